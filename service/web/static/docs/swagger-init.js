// Swagger UI for /docs (a classic script after swagger-ui-bundle.js: no inline script, so the page passes the
// Content-Security-Policy). "Try it out" requests go with the session cookie, so unsafe ones carry the session's
// X-CSRF-Token, read from /api/auth/me.
(function () {
  'use strict';
  const root = document.getElementById('swagger-ui');
  let csrfToken = null;

  function start() {
    window.ui = SwaggerUIBundle({
      url: root.dataset.openapiUrl,
      dom_id: '#swagger-ui',
      layout: 'BaseLayout',
      deepLinking: true,
      showExtensions: true,
      validatorUrl: null, // never ask validator.swagger.io (another host)
      presets: [SwaggerUIBundle.presets.apis],
      requestInterceptor(request) {
        if (csrfToken && !['GET', 'HEAD', 'OPTIONS'].includes((request.method || 'GET').toUpperCase())) {
          request.headers['X-CSRF-Token'] = csrfToken;
        }
        return request;
      },
    });
  }

  fetch('/api/auth/me', { credentials: 'same-origin', headers: { Accept: 'application/json' } })
    .then((response) => (response.ok ? response.json() : null))
    .then((me) => { csrfToken = me && me.csrf_token; })
    .catch(() => {})
    .finally(start);
})();
