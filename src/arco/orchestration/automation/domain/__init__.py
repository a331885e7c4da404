"""The ``automation`` tier-2 domain (ADR 017): schedules, sensors, ticks, backfills and
evaluations, event-sourced like ``runs``.

It sits with the other domains, below the registry that lists it (it imports nothing of
:mod:`arco.orchestration` but the ``runs`` domain); :mod:`arco.orchestration.automation`
re-exports its public names.
"""
