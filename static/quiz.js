// Progressive enhancement for quiz pages; everything works without it.
// - autosave: each changed answer is saved at once (the server keeps it, whatever happens next);
// - countdown: the time left, from the server's deadline.
(function () {
  "use strict";
  var form = document.querySelector("form[data-autosave]");
  var status = document.getElementById("saved");
  if (form && window.fetch && window.FormData) {
    var timer = null;
    var save = function () {
      var data = new FormData(form);
      data.append("autosave", "1");  // an order question still being numbered is not an error yet
      var say = function (ok) {
        if (status) { status.textContent = status.getAttribute(ok ? "data-saved" : "data-failed"); }
      };
      fetch(form.getAttribute("data-autosave"), { method: "POST", body: data, credentials: "same-origin", redirect: "manual" })
        .then(function (response) { say(response.type === "opaqueredirect" || response.ok); })
        .catch(function () { say(false); });
    };
    form.addEventListener("change", function () {
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(save, 300);
    });
  }
  var deadline = document.getElementById("deadline");
  var countdown = deadline && deadline.querySelector(".countdown");
  if (deadline && countdown) {
    var end = Date.parse(deadline.getAttribute("data-deadline"));
    var tick = function () {
      var left = Math.max(0, Math.round((end - Date.now()) / 1000));
      var minutes = Math.floor(left / 60);
      var seconds = left % 60;
      countdown.textContent = minutes + ":" + (seconds < 10 ? "0" : "") + seconds;
    };
    tick();
    setInterval(tick, 1000);
  }
})();
