"""Datasette plugins of linkhealth, registered through Datasette's ``datasette`` entry point
(``pyproject.toml``): ``datasette DB`` alone loads them once installed, so no
``--plugins-dir`` is needed (given too, it would load each one a second time)."""
