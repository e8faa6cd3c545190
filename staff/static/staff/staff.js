/* TwilioFlow staff pages: a few lines of our own; htmx does the live parts. */
(function () {
  /* The viewer's time zone, so times are shown in it (staff/access.py reads the cookie). */
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("tf_time_zone=" + zone) === -1) {
      document.cookie = "tf_time_zone=" + zone + "; path=/; SameSite=Lax; max-age=31536000";
      if (document.querySelector("time") && !sessionStorage.getItem("tf-zone-reloaded")) {
        sessionStorage.setItem("tf-zone-reloaded", "1");
        window.location.reload();
      }
    }
  } catch (e) { /* an old browser: the workspace's zone */ }

})();
