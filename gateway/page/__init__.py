"""The gateway's side of the web page: the facade `web.create_app` is handed, the views it
reads, the device editor, the model manager and /metrics. Handed the running bundle;
never imports `gateway.app`."""
