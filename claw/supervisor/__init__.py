"""The supervisor: routes each incoming turn to fast, single or multi mode (issue #9).

A greeting should not pay for a tool loop on the big model, and a request with several
independent parts should not run them one by one. `dispatch.supervise` is the entry
point; the classifier is pure Python and imports no model code.
"""
