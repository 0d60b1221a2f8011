"""nbgrader in aione servers: assignments travel through the hub's exchange
service (graders.exchange), not through a folder shared by every user.

The classes call $AIONE_EXCHANGE_URL with the server's own hub token
($JUPYTERHUB_API_TOKEN); both are set by the hub's spawner.
"""

c = get_config()  # noqa: F821

for _kind, _cls in {
    "exchange": "AioneExchange",
    "fetch_assignment": "AioneFetchAssignment",
    "fetch_feedback": "AioneFetchFeedback",
    "release_assignment": "AioneReleaseAssignment",
    "release_feedback": "AioneReleaseFeedback",
    "list": "AioneList",
    "submit": "AioneSubmit",
    "collect": "AioneCollect",
}.items():
    setattr(c.ExchangeFactory, _kind, f"graders.exchange.client.{_cls}")
