"""Reports provinces publish each month: the list of late agencies and officials, and the briefing.

Three layers, each with one job: assembly (late_list.py, briefing.py: numbers from the database
into frozen dataclasses), layout (layout.py: a report becomes a neutral Document of titled tables,
pure) and rendering (render_xlsx.py, render_pdf.py: a Document becomes bytes). produce.py ties
them together for the API and the monthly schedule (schedule.py), which stores files in
`report_file` (store.py).
"""
