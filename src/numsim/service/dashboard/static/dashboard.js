// The Live pool page re-reads its fragment every few seconds (no page reload).
// A session that has ended answers with the sign-in page: go there.
"use strict";
(function () {
  const live = document.getElementById("live");
  if (!live) return;
  const url = live.dataset.refresh;
  const seconds = Number(live.dataset.seconds) || 5;
  async function refresh() {
    try {
      const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      if (response.redirected) {
        window.location.assign(response.url);
        return;
      }
      if (response.ok) live.innerHTML = await response.text();
    } catch (error) {
      // the service is restarting, or the network is down: try again next time
    }
    window.setTimeout(refresh, seconds * 1000);
  }
  window.setTimeout(refresh, seconds * 1000);
})();
