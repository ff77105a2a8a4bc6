"""The gateway's rules, between the routes and the adapters.

    routes (parse, call one service function, render)
      └── services (access, start, messages, read, lists, updates, resume, events)
            └── adapters (the only modules that import `temporalio` or `redis`)

A route never decides who may see a run, never builds a visibility query and never
talks to a backend: `access` decides visibility once for every surface.
"""
