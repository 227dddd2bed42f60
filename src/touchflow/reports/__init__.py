"""Reports as documents: HTML from Jinja2 templates, charts drawn offline by vega-altair + vl-convert (SVG), PDF by
WeasyPrint with a CJK font registered by name. Reads only ``domain`` data (``ReportData``); services feed it."""
