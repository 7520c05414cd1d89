"""Screenshots of the dashboard for the README, taken the way the browser tests drive it:
Debian's chromium through Playwright, against a real `numsim serve` holding
data/numbers.csv and a few calls in progress.

    .venv/bin/python docs/screenshots/make.py   # writes docs/screenshots/*.png
"""

import sys
import tempfile
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests"))

from browser import AUTH, SAMPLE, launch, serve, sign_in  # noqa: E402

LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
CALLS = [  # (template, destination): calls in progress on the Live pool page
    ("collections", "+919876543210"),
    ("collections", "+919876543211"),
    ("collections", "+919876543212"),
    ("loan-reminders", "+919876543213"),
    ("us-appointments", "+12125550143"),
    ("us-appointments", "+12125550144"),
]
REFUSED = [("loan-reminders", "+12125550145")] * 3  # Indian numbers may not call the US


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder, serve(Path(folder) / "numbers.db") as url:
        with httpx.Client(base_url=url, headers=AUTH) as api:
            csv = {"Content-Type": "text/csv"}
            assert api.post("/numbers/import", content=SAMPLE.read_bytes(), headers=csv).is_success
            for template, destination in CALLS + REFUSED:
                api.post("/allocations", json={"template": template, "destination": destination})
        with sync_playwright() as playwright:
            browser = launch(playwright)
            page = browser.new_page(viewport=LAPTOP)
            page.goto(f"{url}/")
            shoot(page, "sign-in")
            sign_in(page, url)
            shoot(page, "numbers")
            page.get_by_role("button", name="Add number").click()
            page.get_by_label("Number (E.164)").fill("+1415555")
            page.get_by_label("Provider").select_option("twilio")
            page.get_by_role("button", name="Save").click()
            shoot(page, "add-number-error")
            page.goto(f"{url}/dashboard/numbers/%2B912240000011")
            shoot(page, "number")
            page.goto(f"{url}/dashboard/templates")
            shoot(page, "templates")
            page.get_by_role("link", name="collections").first.click()
            shoot(page, "template")
            page.goto(f"{url}/dashboard/live")
            shoot(page, "live-pool")
            phone = browser.new_page(viewport=PHONE, is_mobile=True)
            sign_in(phone, url)
            shoot(phone, "numbers-phone", full_page=False)
            browser.close()


def shoot(page, name: str, full_page: bool = True) -> None:
    """A PNG of the page, in 256 colours (a page of text and flat colours loses nothing
    visible, and the file a third of its size)."""
    from PIL import Image

    path = HERE / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256)
    small.save(path, optimize=True)
    print(f"wrote {path.relative_to(HERE.parents[1])}")


if __name__ == "__main__":
    main()
