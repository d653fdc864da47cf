"""LocalStack runtime executor that runs Lambda execution environments as host processes.

Modules: ``plugin`` (the plux entry point), ``executor`` (the RuntimeExecutor), ``endpoint``
(LocalStack's callback endpoint, adapted), ``process`` (the OS process and its output),
``envvars`` and ``layout`` (environment and files), and ``bootstrap`` (the runtime client that
runs *inside* the function process, standard library only). See docs/host-backend.md.

Nothing is imported here: ``plugin``, ``executor`` and ``endpoint`` need LocalStack, which is only
installed in LocalStack's own venv.
"""
