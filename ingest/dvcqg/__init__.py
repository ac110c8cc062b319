"""The national portal's sync format (DongBoHoSoMC / CapNhatTienDoHoSoMC), translated to native
dossier events. Pure: envelope.py reads the request variants, translate.py validates each record
and derives the events; the route (ioc/api/dvcqg.py) does the I/O."""
