// Starts ReDoc on /redoc, from a file so the page's policy allows no inline script.
Redoc.init("openapi.json", { hideDownloadButton: false }, document.getElementById("redoc"));
