// Applies the saved theme before the app loads, so a dark page never flashes white.
(function () {
  try {
    var saved = localStorage.getItem("parley.theme") || "system";
    var dark = saved === "dark" || (saved === "system" && window.matchMedia("(prefers-color-scheme: dark)").matches);
    document.documentElement.dataset.theme = dark ? "dark" : "light";
    var lang = localStorage.getItem("parley.language");
    if (lang) document.documentElement.lang = lang;
  } catch (e) {
    /* storage unavailable: the app decides */
  }
})();
