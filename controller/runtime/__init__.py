"""Where test cases execute (Ianvs's testcasecontroller, the running half).

- ``case``: ``run_case(spec, workspace)``, the one way every runtime runs a test case and records how it ended.
- ``local``: this process, or a case process per test case (``--parallel N``); ``--resume``.
- ``interrupt``: how Ctrl-C, SIGTERM and SIGHUP stop a run (``Interrupted``).
- ``simulation``: the same test cases as SimulationJobs in a cluster (``--runtime simulation``).
- ``packages``: an algorithm's ``third_party_packages`` on the import path.
"""
