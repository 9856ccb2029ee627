// Progressive enhancement for quiz pages; everything works without it (each button is a plain
// form post the server understands).
// - autosave (exams): each changed answer is saved at once, and the navigator follows;
// - flag for review: toggled in place, the server keeps it;
// - practice "Check answer": the question is replaced by the server's own rendering of it
//   (feedback, or the reason an answer was refused, with what was typed kept);
// - countdown from the server's deadline (corrected for this device's clock), warnings at 5 and
//   1 minutes (a live region), and at time-up the pending answers are saved and handed in.
(function () {
  "use strict";
  var form = document.querySelector("form.quiz");
  var status = document.getElementById("saved");
  var navigator_ = document.getElementById("navigator");
  var say = function (key) {
    if (status) { status.textContent = status.getAttribute(key); }
  };
  var canFetch = !!(window.fetch && window.FormData && window.DOMParser);

  // The page as the server renders it now (after a post that followed its redirect).
  var parse = function (response) {
    return response.text().then(function (html) {
      return { ok: response.ok || response.status === 400, doc: new DOMParser().parseFromString(html, "text/html") };
    });
  };
  var swap = function (doc, selector) {
    var fresh = doc.querySelector(selector);
    var old = document.querySelector(selector);
    if (fresh && old) { old.replaceWith(document.importNode(fresh, true)); }
    return document.querySelector(selector);
  };

  // The navigator entry of one question, from what its fields hold (what autosave just sent).
  var slotOf = function (element) {
    var fieldset = element.closest && element.closest("fieldset.question");
    return fieldset ? fieldset.id.split("-")[1] : null;
  };
  var markAnswered = function (slot) {
    var fieldset = document.getElementById("question-" + slot);
    var link = document.getElementById("nav-" + slot);
    if (!fieldset || !link || !navigator_) { return; }
    var answered = false;
    Array.prototype.forEach.call(fieldset.querySelectorAll("input, select"), function (field) {
      if (field.type === "radio" || field.type === "checkbox") { answered = answered || field.checked; }
      else if (field.tagName === "SELECT") { answered = answered || (field.value !== "" && !/-unit$/.test(field.name)); }
      else if (field.type !== "hidden") { answered = answered || field.value.trim() !== ""; }
    });
    var flagged = link.classList.contains("is-flagged");
    link.classList.toggle("is-answered", answered);
    link.querySelector(".nav-icons").textContent = (answered ? "\u2713" : "\u25cb") + (flagged ? "\u2691" : "");
    var words = link.querySelector(".nav-words");
    var prefix = words.textContent.split(":")[0];
    words.textContent = prefix + ": " + navigator_.getAttribute(answered ? "data-answered" : "data-unanswered") +
      (flagged ? ", " + navigator_.getAttribute("data-flagged") : "");
  };

  if (form && canFetch) {
    var autosave = form.getAttribute("data-autosave");
    var timer = null;
    var changed = {};
    var save = function () {
      var data = new FormData(form);
      data.append("autosave", "1");  // an order question still being numbered is not an error yet
      var slots = Object.keys(changed);
      changed = {};
      return fetch(autosave, { method: "POST", body: data, credentials: "same-origin", redirect: "manual" })
        .then(function (response) {
          var ok = response.type === "opaqueredirect" || response.ok;
          say(ok ? "data-saved" : "data-failed");
          if (ok) { slots.forEach(markAnswered); }
        })
        .catch(function () { say("data-failed"); });
    };
    if (autosave) {
      form.addEventListener("change", function (event) {
        var slot = slotOf(event.target);
        if (slot) { changed[slot] = true; }
        if (timer) { clearTimeout(timer); }
        timer = setTimeout(save, 300);
      });
    }

    form.addEventListener("click", function (event) {
      var button = event.target.closest && event.target.closest("button[name=flag], button[name=check]");
      if (!button) { return; }
      event.preventDefault();
      var slot = slotOf(button);
      var data;
      if (button.name === "flag") {
        data = new FormData(form);  // as without JavaScript: the form's answers are saved too
        data.append("autosave", "1");
      } else {
        // "Check answer": this question alone (a checked practice answer is final).
        data = new FormData();
        new FormData(form).forEach(function (value, key) {
          if (key === "csrf_token" || key === "q" + slot || key.indexOf("q" + slot + "-") === 0) {
            data.append(key, value);
          }
        });
      }
      data.append(button.name, button.value);
      button.disabled = true;
      fetch(button.getAttribute("formaction") || form.getAttribute("action"),
            { method: "POST", body: data, credentials: "same-origin" })
        .then(parse)
        .then(function (page) {
          if (!page.ok) { throw new Error("not saved"); }
          swap(page.doc, "#navigator");
          navigator_ = document.getElementById("navigator");
          var fieldset = swap(page.doc, "#question-" + slot);
          if (button.name === "flag") {
            var again = fieldset && fieldset.querySelector("button[name=flag]");
            if (again) { again.focus(); }
            say("data-saved");
          } else {
            var target = fieldset && (fieldset.querySelector(".verdict, .field-error") || fieldset);
            if (target) {
              if (!target.hasAttribute("tabindex")) { target.setAttribute("tabindex", "-1"); }
              target.focus();
            }
            if (fieldset && fieldset.querySelector(".field-error")) { say("data-failed"); }
            else if (fieldset && fieldset.querySelector(".verdict")) { say("data-checked"); }
          }
        })
        .catch(function () { button.disabled = false; say("data-failed"); });
    });
  }

  var deadline = document.getElementById("deadline");
  var countdown = deadline && deadline.querySelector(".countdown");
  var warning = document.getElementById("time-warning");
  if (deadline && countdown) {
    var end = Date.parse(deadline.getAttribute("data-deadline"));
    var serverNow = Date.parse(deadline.getAttribute("data-now"));
    // This device's clock may be off: count from the server's clock at page load.
    var offset = isNaN(serverNow) ? 0 : serverNow - Date.now();
    var warned = {};
    var handedIn = false;
    var warn = function (key) {
      if (warned[key] || !warning) { return; }
      warned[key] = true;
      warning.textContent = warning.getAttribute(key);
      warning.classList.add("is-shown");
    };
    var handIn = function () {
      if (handedIn || !form) { return; }
      handedIn = true;
      warn("data-up");
      // One post saves whatever the fields hold and hands in (the server grades as of the
      // deadline); the browser then shows the result page.
      var flag = document.createElement("input");
      flag.type = "hidden";
      flag.name = "timeup";
      flag.value = "1";
      form.appendChild(flag);
      form.setAttribute("action", form.getAttribute("data-submit"));
      form.submit();
    };
    var tick = function () {
      var left = Math.max(0, Math.round((end - (Date.now() + offset)) / 1000));
      var minutes = Math.floor(left / 60);
      var seconds = left % 60;
      countdown.textContent = minutes + ":" + (seconds < 10 ? "0" : "") + seconds;
      if (left <= 0) { handIn(); }
      else if (left <= 60) { warn("data-one"); }
      else if (left <= 300) { warn("data-five"); }
    };
    tick();
    setInterval(tick, 1000);
  }
})();
