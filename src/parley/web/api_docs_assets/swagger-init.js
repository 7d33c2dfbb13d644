// Starts Swagger UI on /docs. A file rather than an inline script, so the page's policy allows scripts from
// Parley only ('self'), never inline ones.
window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  // No call to the public validator service: the page talks to Parley only.
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
