// Starts Swagger UI on the docs page. A file, not an inline script: the page's
// Content-Security-Policy runs scripts from this origin only.
window.addEventListener("load", function () {
  var container = document.getElementById("swagger-ui-container");
  window.ui = SwaggerUIBundle({url: container.dataset.specUrl, dom_id: "#swagger-ui-container"});
});
