"""What other domains' writes leave behind for reports, in the same transaction: exam tallies and
item marks when an exam is graded (`results`), and the compliance change queue when people or
certificates change (`changes`). The bottom of the layering, so graders and account services write
report rows without importing the reports that read them."""
