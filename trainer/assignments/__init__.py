"""Required qualifications: a course required of a unit (with its subtree), of the people with a
role, or of named people, by a due date. See models.py."""
