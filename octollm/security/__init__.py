"""Security adapters: the executor sandbox, and (later) tokens, signing and PII screening.

Import the concrete module you need (``from octollm.security.sandbox import Sandbox``); this
package re-exports nothing, so adding a module here never means editing this file.
"""
