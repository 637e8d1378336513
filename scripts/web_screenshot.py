"""Makes docs/images/web-search.png: `engocr serve` over footage made of real street photos
(ICDAR 2015 training images in ../shared/data, each held two seconds with a slow zoom, as a
walk past shop fronts), searched in Debian's headless Chromium.

    python scripts/web_screenshot.py [--query sale] [-o docs/images/web-search.png]

Needs the dev extra (selenium), Debian's chromium and chromium-driver
(bash scripts/setup_train.sh) and the ic15 data."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import cv2
import imageio.v2 as imageio
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
IC15 = ROOT.parent / "shared" / "data" / "ic15_train"
WALKS = {  # photos with shop signs, several with SALE in them
    "orchard-road-walk.mp4": ["img_312.jpg", "img_1.jpg", "img_154.jpg", "img_37.jpg",
                              "img_348.jpg", "img_60.jpg"],
    "mall-level-2.mp4": ["img_40.jpg", "img_98.jpg", "img_111.jpg", "img_320.jpg"],
    "station-exit.mp4": ["img_131.jpg", "img_102.jpg", "img_84.jpg"],
}
SIZE, FPS, HOLD_S = (960, 544), 10, 2.0  # sides divisible by 16 for H.264


def write_walk(path: Path, photos: list[str]) -> None:
    """Each photo for HOLD_S seconds, zooming in slowly on its centre."""
    with imageio.get_writer(str(path), fps=FPS, codec="libx264", macro_block_size=16,
                            ffmpeg_log_level="quiet") as writer:
        for name in photos:
            image = cv2.imread(str(IC15 / "images" / name))
            h, w = image.shape[:2]
            steps = int(HOLD_S * FPS)
            for i in range(steps):
                zoom = 1 + 0.12 * i / steps
                cw, ch = w / zoom, h / zoom
                x0, y0 = (w - cw) / 2, (h - ch) / 2
                crop = image[int(y0):int(y0 + ch), int(x0):int(x0 + cw)]
                writer.append_data(cv2.resize(crop, SIZE, interpolation=cv2.INTER_AREA)[..., ::-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--query", default="sale")
    parser.add_argument("-o", "--output", type=Path,
                        default=ROOT / "docs" / "images" / "web-search.png")
    args = parser.parse_args()
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    work = Path(tempfile.mkdtemp(prefix="engocr-web-"))
    footage = work / "footage"
    footage.mkdir()
    for name, photos in WALKS.items():
        write_walk(footage / name, photos)
    db = work / "library.db"
    subprocess.run([sys.executable, "-m", "engocr", "index", str(footage), "--db", str(db),
                    "--workers", "1"], check=True)
    server = subprocess.Popen([sys.executable, "-m", "engocr", "serve", "--db", str(db),
                               "--port", "0"], stdout=subprocess.PIPE, text=True)
    url = server.stdout.readline().split(" at ")[1].split()[0]
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--mute-audio", "--hide-scrollbars",
                 "--window-size=1360,1180", "--force-color-profile=srgb"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(
        executable_path="/usr/bin/chromedriver"))
    try:
        wait = WebDriverWait(driver, 30)
        driver.get(url)
        driver.find_element(By.ID, "q").send_keys(args.query)
        card = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#cards .card"))
        with urllib.request.urlopen(f"{url}api/search?q={args.query}") as response:
            hit = json.load(response)["hits"][0]
        card.click()
        player = driver.find_element(By.ID, "player")
        wait.until(lambda d: d.execute_script(
            "return arguments[0].readyState >= 2 && !arguments[0].seeking", player))
        driver.execute_script("arguments[0].pause(); arguments[0].currentTime = arguments[1]",
                              player, hit["time_s"])
        wait.until(lambda d: d.execute_script(
            "const v = arguments[0], f = document.getElementById('frame'); return !v.seeking "
            "&& v.readyState >= 2 && f.complete && f.naturalWidth > 0", player))
        driver.execute_script("document.activeElement.blur()")
        args.output.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(args.output))
    finally:
        driver.quit()
        server.terminate()
        server.wait()
    image = cv2.imread(str(args.output))
    cv2.imwrite(str(args.output), image, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {args.output} ({np.prod(image.shape[:2]) // 1000} kpx) from {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
