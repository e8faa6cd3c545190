/* TwilioFlow admin: reload a page that shows something live (a run, the runs list) every
   few seconds, unless the user is busy with it (a checkbox ticked, a field focused). The
   page sets <meta name="tf-refresh" content="SECONDS"> only while something is live. */
(function () {
  var meta = document.querySelector('meta[name="tf-refresh"]');
  if (!meta) { return; }
  var seconds = parseInt(meta.getAttribute("content"), 10);
  if (!(seconds > 0)) { return; }
  setTimeout(function check() {
    var busy = document.querySelector("input.action-select:checked, #action-toggle:checked")
      || (document.activeElement && /INPUT|SELECT|TEXTAREA/.test(document.activeElement.tagName));
    if (busy) { setTimeout(check, seconds * 1000); return; }
    window.location.reload();
  }, seconds * 1000);
})();

/* The browser's time zone, for users whose workspaces are in different zones
   (workspaces/middleware.py: the workspace's zone comes first). */
(function () {
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("tf_time_zone=" + zone) === -1) {
      document.cookie = "tf_time_zone=" + zone + "; path=/admin/; SameSite=Lax; max-age=31536000";
    }
  } catch (e) { /* an old browser: the server's zone */ }
})();
