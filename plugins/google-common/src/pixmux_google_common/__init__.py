"""
pixmux-google-common: the Google wire code that the ``vertex_ai`` and ``gemini`` providers share.

Not a provider itself (it registers no entry point). Both Google services speak the same two
formats, so the translation lives here once:

- :mod:`pixmux_google_common.models`: the model catalogue (which API each model uses, its
  aspect ratios, size tiers, parameters and prices), built per service.
- :mod:`pixmux_google_common.sizes`: OpenAI ``size`` / ``quality`` to Google's aspect ratio and
  size tier, with a warning when it is an approximation.
- :mod:`pixmux_google_common.validation`: the ``validate_params`` rules both providers apply.
- :mod:`pixmux_google_common.imagen`: Imagen ``:predict`` request body and response.
- :mod:`pixmux_google_common.generate_content`: Gemini ``:generateContent`` request body and response.
- :mod:`pixmux_google_common.errors`: Google's ``{"error": {code, message, status}}`` as pixmux errors.
"""

__version__ = "1.0.0"
