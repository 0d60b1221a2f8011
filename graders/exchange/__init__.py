"""The hub-native nbgrader exchange.

nbgrader's own exchange is a folder shared by every user; with one container
per learner it either breaks or leaks (nbgrader#1386, #978, #1202). Here the
exchange is a JupyterHub service with a REST API and its own store on the hub
host:

- :mod:`graders.exchange.service`: the tornado service (``aione-exchange``),
  which authenticates callers with their JupyterHub token and decides by
  their course groups (:mod:`graders.exchange.permissions`);
- :mod:`graders.exchange.store`: the files under ``<state_dir>/exchange/``,
  every submission an immutable, timestamped attempt;
- :mod:`graders.exchange.client`: nbgrader ``Exchange*`` classes that talk to
  the service with the server's own token (selected in the learner image's
  ``nbgrader_config.py``);
- :mod:`graders.exchange.course`: release, collect and deliver feedback on
  the host, between a course folder and the store (``aione assignment``);
- :mod:`graders.exchange.instructor`: what an instructor's server gets (the
  course folder mounted, the formgrader enabled);
- :mod:`graders.exchange.hubconfig`: the service's place in the hub config.

Modules used inside learner images (``client``, ``api``, ``archive``,
``names``, ``formgrader_frame``) import nothing from :mod:`hub`, which is not
installed there.
"""
