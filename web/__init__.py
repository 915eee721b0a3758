"""The engineers' web page (aiohttp), a leaf package: `web.app.create_app(facade, settings)`
served by `web.server.serve_web`; the gateway implements `web.facade.WebFacade`. Issue #5."""
