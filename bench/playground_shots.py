"""Screenshots of the playground for the README and docs/playground.md.

Taken in headless Chromium (tests/app/browser.py) from a real ``nuner serve``
on its embedded default: the starter encoder (built first if the home has
none, as a first start would) answers a zero-shot request; then a tagger is
made through the page from eight conll2003 training sentences loaded as a
JSONL file, fine-tuned on the default backbone, and tried on a sentence.

    python bench/playground_shots.py [--home .bench/shots-home]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import typer
from browser import chromium, screenshot
from common import CONLL, DOCS, WORK, start_service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from nuner.core.datasets import example_to_dict, read_jsonl

TRY_TEXT = "Angela Merkel met Emmanuel Macron in Paris ."


def ensure_starter(home: Path) -> None:
    env = {**os.environ, "NUNER_HOME": str(home)}
    listing = subprocess.run(
        [str(Path(sys.executable).with_name("nuner")), "default-encoder"],
        env=env,
        capture_output=True,
        text=True,
    )
    if listing.returncode != 0 or "@" not in listing.stdout:
        subprocess.run(
            [str(Path(sys.executable).with_name("nuner")), "build-starter-encoder"],
            env=env,
            check=True,
        )


def training_file(directory: Path, count: int = 8) -> Path:
    examples = read_jsonl(CONLL / "train.jsonl")
    chosen = [e for e in examples if len(e.spans) >= 2 and len(e.text) < 90][:count]
    path = directory / "conll-8.jsonl"
    path.write_text("".join(json.dumps(example_to_dict(e)) + "\n" for e in chosen))
    return path


def main(home: Path = typer.Option(WORK / "shots-home", help="NUNER_HOME of the service.")):
    ensure_starter(home)
    process, base = start_service({"NUNER_HOME": str(home)}, WORK / "shots-serve.log")
    profile = Path(tempfile.mkdtemp())
    driver = chromium(profile / "chromium", width=1000, height=900)
    wait = WebDriverWait(driver, 600, poll_frequency=0.2)
    try:
        httpx.delete(f"{base}/v1/taggers/conll-demo")  # a rerun makes version 1 again
        driver.get(f"{base}/ui/")
        wait.until(lambda d: d.execute_script("return document.body.dataset.ready === 'true'"))
        driver.find_element(By.ID, "extract-button").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#highlighted mark"))
        screenshot(driver, DOCS / "playground-extract.png", "extract-panel")

        driver.find_element(By.CSS_SELECTOR, "button[data-panel=train-panel]").click()
        driver.find_element(By.ID, "train-labels").clear()
        driver.find_element(By.ID, "train-file").send_keys(str(training_file(profile)))
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".example")) == 8)
        driver.find_element(By.ID, "job-tagger").clear()
        driver.find_element(By.ID, "job-tagger").send_keys("conll-demo")
        driver.find_element(By.ID, "job-submit").click()
        wait.until(lambda d: d.find_element(By.ID, "job-try").is_displayed())
        screenshot(driver, DOCS / "playground-tagger.png", "train-panel")

        driver.find_element(By.ID, "job-try").click()
        wait.until(
            lambda d: (
                "conll-demo@1" in d.find_element(By.ID, "raw-json").get_attribute("textContent")
            )
        )
        driver.find_element(By.ID, "extract-text").clear()
        driver.find_element(By.ID, "extract-text").send_keys(TRY_TEXT)
        driver.find_element(By.ID, "extract-button").click()
        wait.until(lambda d: "Macron" in d.find_element(By.ID, "highlighted").text)
        screenshot(driver, DOCS / "playground-tagger-used.png", "result")
        print(
            "wrote", *(DOCS / f"playground-{n}.png" for n in ("extract", "tagger", "tagger-used"))
        )
    finally:
        driver.quit()
        process.terminate()
        process.wait(30)


if __name__ == "__main__":
    typer.run(main)
