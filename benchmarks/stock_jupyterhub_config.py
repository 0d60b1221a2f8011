"""A stock DockerSpawner hub, as in jupyterhub-deploy-docker, for comparison benchmarks.

Environment: STOCK_PORT, STOCK_HUB_IP, STOCK_HUB_PORT, STOCK_PROXY_API_PORT, STOCK_NETWORK,
STOCK_PREFIX, STOCK_STATE, AIONE_API_TOKEN, STOCK_IMAGE.
"""

import os

env = os.environ
c = get_config()  # type: ignore[name-defined]  # noqa: F821
c.JupyterHub.bind_url = f"http://127.0.0.1:{env['STOCK_PORT']}"
c.JupyterHub.hub_ip = env["STOCK_HUB_IP"]
c.JupyterHub.hub_port = int(env["STOCK_HUB_PORT"])
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{env['STOCK_PROXY_API_PORT']}"
c.ConfigurableHTTPProxy.command = [env["STOCK_PROXY_COMMAND"]]
c.JupyterHub.db_url = f"sqlite:///{env['STOCK_STATE']}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = f"{env['STOCK_STATE']}/cookie_secret"
c.JupyterHub.spawner_class = "dockerspawner.DockerSpawner"
c.DockerSpawner.image = env["STOCK_IMAGE"]
c.DockerSpawner.network_name = env["STOCK_NETWORK"]
c.DockerSpawner.prefix = env["STOCK_PREFIX"]
c.DockerSpawner.remove = True
c.DockerSpawner.notebook_dir = "/home/jovyan"
c.DockerSpawner.volumes = {f"{env['STOCK_PREFIX']}-home-{{username}}": "/home/jovyan"}
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.services = [{"name": "bench", "api_token": env["AIONE_API_TOKEN"]}]
c.JupyterHub.load_roles = [
    {
        "name": "bench",
        "scopes": ["admin:users", "admin:servers", "tokens", "access:servers"],
        "services": ["bench"],
    }
]
