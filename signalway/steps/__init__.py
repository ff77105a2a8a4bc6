"""The steps behind `signalway.workflow`, and their wire contract (`signalway.steps.contract`).

Workflow code imports `signalway.workflow`; these modules are its implementation. Nothing here
does I/O: the steps' I/O happens in activities (`signalway.plugin` puts them on a worker).
"""
