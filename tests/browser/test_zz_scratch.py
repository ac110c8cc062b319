from typing import Any
from tests.auth_support import create_user
from tests.browser.pages import console, sign_in
from tests.conftest import LiveServer

def test_dump(browser: Any, module_live_server: LiveServer) -> None:
    create_user(module_live_server.db_url, "xem-thu", "admin")
    console(browser)
    sign_in(browser, module_live_server.url, "xem-thu")
    for e in console(browser):
        print(e["level"], e["message"][:300])
    browser.execute_script("const s=document.createElement('script'); s.textContent='1'; document.body.appendChild(s); const d=document.createElement('div'); d.innerHTML='<span style=\"color:red\">x</span>'; document.body.appendChild(d);")
    import time; time.sleep(1)
    for e in console(browser):
        print("AFTER", e["level"], e["message"][:300])
