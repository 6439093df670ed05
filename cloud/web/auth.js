// Tianshan pages: the API token travels in the URL fragment once (#token=…, which the
// browser never sends to a server, so it is in no log), then lives in localStorage.
"use strict";
(function () {
  const KEY = "tianshan-token";
  const found = location.hash.match(/token=([^&]+)/);
  if (found) {
    localStorage.setItem(KEY, decodeURIComponent(found[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  function askForToken(why) {
    if (document.getElementById("tianshan-login")) return;
    const box = document.createElement("div");
    box.id = "tianshan-login";
    box.style.cssText = "position:fixed;inset:0;background:#0009;display:flex;align-items:center;justify-content:center;z-index:99";
    box.innerHTML = `<form style="background:#fff;color:#111;padding:20px;border-radius:8px;font:16px system-ui;max-width:420px">
      <p style="margin-top:0"><b>API token needed</b><br><span style="color:#666">${why}</span></p>
      <input name="t" placeholder="tsn_…" style="width:100%;font:inherit" autocomplete="off">
      <p style="margin-bottom:0"><button>Use this token</button></p></form>`;
    box.querySelector("form").onsubmit = (e) => {
      e.preventDefault();
      localStorage.setItem(KEY, box.querySelector("input").value.trim());
      location.reload();
    };
    document.body.appendChild(box);
  }
  window.tianshanToken = () => localStorage.getItem(KEY) || "";
  window.apiFetch = async function (url, options = {}) {
    const token = window.tianshanToken();
    const headers = Object.assign({}, options.headers || {}, token ? {Authorization: `Bearer ${token}`} : {});
    const response = await fetch(url, Object.assign({}, options, {headers}));
    if (response.status === 401) askForToken(token ? "The saved token was refused (revoked?)." : "Paste a token (tianshan token create …).");
    return response;
  };
})();
