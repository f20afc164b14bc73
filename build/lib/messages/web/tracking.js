// Tracking page: the live countdown to the promised delivery time.
// The server renders the deadline and its own "now" (ISO 8601 with offset); the difference
// between that and the phone's clock is taken out, so a phone set wrong still counts right.
(function () {
  "use strict";

  // In words, as bot/trackview.py countdown_words writes it: 21小时15分, 1天3小时5分, 8分
  // (a clock-like 21:15:44 reads as a time of day). Whole minutes, rounded down.
  function format(ms) {
    var m = Math.floor(Math.abs(ms) / 60000);
    if (m < 1) return "不到1分钟";
    var days = Math.floor(m / 1440), hours = Math.floor((m % 1440) / 60), mins = m % 60;
    return (days ? days + "天" : "") + (days || hours ? hours + "小时" : "") + mins + "分";
  }

  function start() {
    var box = document.getElementById("countdown");
    if (!box) return;
    var deadline = Date.parse(box.getAttribute("data-deadline"));
    var serverNow = Date.parse(box.getAttribute("data-now"));
    if (isNaN(deadline)) return;
    var skew = isNaN(serverNow) ? 0 : serverNow - Date.now();
    var label = document.getElementById("countdown-label");
    var value = document.getElementById("countdown-value");

    function tick() {
      var left = deadline - (Date.now() + skew);
      if (left > 0) {
        label.textContent = "距承诺送达还剩";
        box.classList.remove("overdue");
      } else {
        label.textContent = "已超出承诺时间";
        box.classList.add("overdue");
      }
      value.textContent = format(left);
      box.setAttribute("data-left", String(Math.round(left / 1000)));
    }

    tick();
    // Align the ticks to whole seconds of the (corrected) clock.
    setTimeout(function () {
      tick();
      setInterval(tick, 1000);
    }, 1000 - ((Date.now() + skew) % 1000));
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
