"""The playground in a real browser: headless Debian Chromium, driven by
Selenium, against a real `nuner serve` with API keys on, a tiny tagger and a
tiny encoder published, and the embedded fine-tune worker on a tiny BERT.

Screenshots of each step go to ``.artifacts/playground`` (``NUNER_TEST_ARTIFACTS``)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import httpx
import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from bench.browser import chromium, installed, screenshot
from nuner.core.datasets import read_jsonl
from tests.app.conftest import start_server
from tests.conftest import dataset_path

KEY = "playground-test-key"
HEADERS = {"Authorization": f"Bearer {KEY}"}
XSS = '<img src=x onerror="window.__xss=1">'
ARTIFACTS = Path(
    os.environ.get(
        "NUNER_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / ".artifacts" / "playground"
    )
)
# sentences the tiny tagger finds entities in, with code points beyond the BMP,
# CJK and a run of spaces: offsets must stay code points
CONLL = [e.text for e in read_jsonl(dataset_path("conll2003", "test"))[:80]]
SAMPLE = " ".join(CONLL[4:9]) + " 😀  北京 and Berlin ."
ZERO_SHOT_LABELS = ["person", "organization", "location"]

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def service(tmp_path_factory, make_bundle, make_encoder, tiny_bert_dir):
    keys = [{"name": "ui", "sha256": hashlib.sha256(KEY.encode()).hexdigest(), "scope": "write"}]
    base, process = start_server(
        tmp_path_factory.mktemp("playground") / "home",
        make_bundle("conll", "1"),
        make_encoder("starter", "1"),
        NUNER_API_KEYS=json.dumps(keys),
        NUNER_BACKBONE=str(tiny_bert_dir),
        NUNER_FINETUNE_MIN_EXAMPLES_PER_LABEL="1",
        NUNER_FINETUNE_VARIANTS="[]",
        NUNER_WORKER_POLL_SECONDS="0.2",
        NUNER_ALIAS_CACHE_SECONDS="0",
    )
    yield base
    process.kill()


@pytest.fixture
def browser(request, tmp_path):
    if not installed():
        pytest.fail("Debian's chromium and chromium-driver are needed: bash scripts/setup.sh dev")
    driver = chromium(tmp_path / "chromium")
    driver.shots = Shots(driver, request.node.name)
    yield driver
    problems = [e for e in driver.get_log("browser") if unexpected_console_error(e)]
    driver.quit()
    assert not problems, problems


def unexpected_console_error(entry: dict) -> bool:
    """Anything severe but the service's own 4xx answers (the tests provoke them);
    a Content-Security-Policy violation would be one."""
    return entry["level"] == "SEVERE" and "status of 4" not in entry["message"]


class Shots:
    """Numbered screenshots of a test's steps, kept as artifacts."""

    def __init__(self, driver, test: str) -> None:
        self.driver, self.test, self.count = driver, test, 0

    def take(self, step: str) -> Path:
        self.count += 1
        return screenshot(self.driver, ARTIFACTS / f"{self.test}-{self.count:02d}-{step}.png")


def wait(driver, condition, timeout: float = 30):
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition)


def open_playground(driver, base: str) -> None:
    """Load the page; it asks for the key (API keys are on), which it keeps for the tab."""
    driver.get(f"{base}/ui/")
    wait(driver, lambda d: d.find_element(By.ID, "key-box").is_displayed())
    driver.find_element(By.ID, "api-key").send_keys(KEY, Keys.ENTER)
    wait(driver, lambda d: d.execute_script("return document.body.dataset.ready === 'true'"))
    assert driver.execute_script("return sessionStorage.getItem('nuner.apiKey')") == KEY
    assert driver.execute_script("return localStorage.length") == 0


def api_entities(base: str, body: dict) -> list[dict]:
    response = httpx.post(f"{base}/v1/extract", json=body, headers=HEADERS, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()["entities"]


def shown_marks(driver) -> list[tuple[int, int, str, str]]:
    """Every highlighted entity on the page: its offsets, label, and the text it covers."""
    return [
        tuple(mark)
        for mark in driver.execute_script(
            """return [...document.querySelectorAll('#highlighted mark.entity')].map(m => {
                 const copy = m.cloneNode(true);
                 copy.querySelectorAll('.entity-label').forEach(tag => tag.remove());
                 return [+m.dataset.start, +m.dataset.end, m.dataset.label, copy.textContent];
               })"""
        )
    ]


def as_marks(text: str, entities: list[dict]) -> list[tuple[int, int, str, str]]:
    return sorted((e["start"], e["end"], e["label"], text[e["start"] : e["end"]]) for e in entities)


def extract_requests(driver) -> int:
    return driver.execute_script(
        "return performance.getEntriesByType('resource')"
        ".filter(e => e.name.endsWith('/v1/extract')).length"
    )


def set_field(driver, element_id: str, value: str) -> None:
    field = driver.find_element(By.ID, element_id)
    field.clear()
    if value:
        field.send_keys(value)


def run_extract(driver) -> None:
    before = extract_requests(driver)
    driver.find_element(By.ID, "extract-button").click()
    wait(driver, lambda d: extract_requests(d) > before and d.find_element(By.ID, "result"))
    wait(driver, lambda d: d.find_element(By.ID, "extract-button").is_enabled())


def test_extract_highlights_what_the_api_returns(service, browser):
    driver = browser
    open_playground(driver, service)
    driver.shots.take("key-entered")
    set_field(driver, "extract-text", SAMPLE)
    set_field(driver, "zs-threshold", "0")  # every word gets its best label: many entities
    driver.find_element(By.ID, "tagger-choice-0").click()  # and the tiny 'conll' tagger
    run_extract(driver)
    zero_shot = api_entities(
        service, {"text": SAMPLE, "labels": ZERO_SHOT_LABELS, "threshold": 0.0}
    )
    tagged = api_entities(service, {"text": SAMPLE, "tagger": "conll"})
    assert zero_shot and tagged
    assert sorted(shown_marks(driver)) == as_marks(SAMPLE, zero_shot + tagged)
    rows = driver.find_elements(By.CSS_SELECTOR, "#entity-table tbody tr")
    assert len(rows) == len(zero_shot) + len(tagged)
    legend = {e.text for e in driver.find_elements(By.CSS_SELECTOR, "#legend .legend-label")}
    assert legend == {e["label"] for e in zero_shot + tagged}
    first = driver.find_element(By.CSS_SELECTOR, "#highlighted mark.entity")
    assert f"{float(first.get_attribute('data-score')):.2f}" in first.get_attribute("title")
    raw = json.loads(driver.find_element(By.ID, "raw-json").get_attribute("textContent"))
    assert raw[0]["entities"] == zero_shot
    assert [a["entities"] for a in raw[1]["answers"]] == [tagged]  # the taggers' request
    driver.shots.take("extracted")

    # the slider refilters what came back, without a new request
    requests = extract_requests(driver)
    minimum = sorted(e["score"] for e in zero_shot + tagged)[len(zero_shot + tagged) // 2]
    steps = int(minimum * 100)  # the slider's step is 0.01
    slider = driver.find_element(By.ID, "threshold")
    slider.send_keys(*[Keys.ARROW_RIGHT] * steps)
    kept = [e for e in zero_shot + tagged if e["score"] >= steps / 100]
    assert 0 < len(kept) < len(zero_shot + tagged)
    assert sorted(shown_marks(driver)) == as_marks(SAMPLE, kept)
    assert driver.find_element(By.ID, "threshold-value").text == f"{steps / 100:.2f}"
    assert extract_requests(driver) == requests
    driver.shots.take("refiltered")

    driver.find_element(By.CSS_SELECTOR, "#result details summary").click()
    driver.find_element(By.ID, "copy-json").click()
    wait(driver, lambda d: d.find_element(By.ID, "copy-status").text)


def test_a_long_text_of_several_windows_renders_every_entity(service, browser):
    driver = browser
    open_playground(driver, service)
    text = "\n".join([*CONLL, SAMPLE])  # thousands of tokens: many overlapping windows
    driver.execute_script("document.getElementById('extract-text').value = arguments[0]", text)
    set_field(driver, "zs-threshold", "0")
    run_extract(driver)
    entities = api_entities(service, {"text": text, "labels": ZERO_SHOT_LABELS, "threshold": 0.0})
    assert max(e["end"] for e in entities) > len(text) - len(SAMPLE)  # the last window too
    assert sorted(shown_marks(driver)) == as_marks(text, entities)
    driver.shots.take("long-text")


def test_label_examples_fine_tune_and_use_the_tagger(service, browser, tmp_path):
    driver = browser
    open_playground(driver, service)
    driver.find_element(By.CSS_SELECTOR, "button[data-panel=train-panel]").click()
    set_field(driver, "train-labels", "PER, LOC")
    sentences = ["Barack Obama visited Berlin .", "Angela Merkel met Macron in Paris ."]
    set_field(driver, "train-sentences", "\n".join(sentences))

    # keyboard only: Tab to "Add sentences", Enter; the first example takes the focus
    driver.find_element(By.ID, "train-sentences").send_keys(Keys.TAB)
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    first = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".example-text"))[0]
    assert driver.switch_to.active_element == first
    keys = ActionChains(driver)
    keys.key_down(Keys.SHIFT).send_keys(Keys.ARROW_RIGHT).key_up(Keys.SHIFT).send_keys("1")
    keys.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, "1").perform()  # Berlin, wrongly PER
    assert spans_of(driver, 0) == [(0, 12, "PER"), (21, 27, "PER")]
    ActionChains(driver).send_keys("2").perform()  # relabel what the selection overlaps
    assert spans_of(driver, 0) == [(0, 12, "PER"), (21, 27, "LOC")]
    ActionChains(driver).send_keys(Keys.DELETE).perform()
    assert spans_of(driver, 0) == [(0, 12, "PER")]
    ActionChains(driver).send_keys("2").perform()
    assert spans_of(driver, 0) == [(0, 12, "PER"), (21, 27, "LOC")]

    # the mouse: drag over two words, double-click one; a label button or a key labels it
    angela, merkel = word(driver, 1, "Angela"), word(driver, 1, "Merkel")
    ActionChains(driver).click_and_hold(angela).move_to_element(merkel).release().perform()
    driver.find_element(By.CSS_SELECTOR, ".label-button[data-label=PER]").click()
    ActionChains(driver).double_click(word(driver, 1, "Paris")).perform()  # text redrawn
    ActionChains(driver).send_keys("1").perform()  # wrongly PER: relabel with the list
    chips = driver.find_elements(By.CSS_SELECTOR, ".example:nth-child(2) .span-list select")
    Select(chips[-1]).select_by_visible_text("LOC")
    assert spans_of(driver, 1) == [(0, 13, "PER"), (28, 33, "LOC")]
    driver.shots.take("labelled")

    # a file with a broken span: the API's problem shows beside the example it names
    broken = {"text": "Macron flew to Rome .", "spans": [{"start": 15, "end": 99, "label": "LOC"}]}
    upload = driver.find_element(By.ID, "train-file")
    path = tmp_path / "examples.jsonl"
    path.write_text(json.dumps(broken) + "\nnot json\n")
    upload.send_keys(str(path))
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".example")) == 3)
    assert "line 2" in driver.find_element(By.ID, "file-problems").text
    set_field(driver, "job-tagger", "people")
    driver.find_element(By.ID, "job-submit").click()
    problem = wait(
        driver, lambda d: d.find_element(By.CSS_SELECTOR, ".example:nth-child(3) .problems").text
    )
    assert "outside the text" in problem
    driver.shots.take("problem-shown")
    driver.find_element(By.CSS_SELECTOR, ".example:nth-child(3) .remove-example").click()

    driver.find_element(By.ID, "job-submit").click()
    try:
        wait(driver, lambda d: d.find_element(By.ID, "job-try").is_displayed(), timeout=300)
    except TimeoutException:
        pytest.fail("job did not succeed: " + driver.find_element(By.ID, "job").text)
    driver.shots.take("job-succeeded")
    assert driver.find_elements(By.CSS_SELECTOR, "#job-events li")
    assert driver.find_element(By.ID, "job-progress").get_attribute("value") == "1"

    driver.find_element(By.ID, "job-try").click()
    wait(driver, lambda d: d.find_element(By.ID, "result").is_displayed())
    wait(driver, lambda d: d.find_element(By.ID, "extract-button").is_enabled())
    entities = api_entities(service, {"text": sentences[0], "tagger": "people@1"})
    assert sorted(shown_marks(driver)) == as_marks(sentences[0], entities)
    raw = json.loads(driver.find_element(By.ID, "raw-json").get_attribute("textContent"))
    assert raw["answers"][0]["tagger"] == "people@1"
    driver.shots.take("tagger-used")


def spans_of(driver, index: int) -> list[tuple[int, int, str]]:
    chips = driver.find_elements(By.CSS_SELECTOR, f".example:nth-child({index + 1}) .span-list li")
    return [
        (
            int(c.get_attribute("data-start")),
            int(c.get_attribute("data-end")),
            c.get_attribute("data-label"),
        )
        for c in chips
    ]


def word(driver, example: int, text: str):
    text_box = driver.find_elements(By.CSS_SELECTOR, ".example-text")[example]
    return next(s for s in text_box.find_elements(By.CSS_SELECTOR, ".seg") if s.text == text)


def test_payloads_stay_text_in_every_field(service, browser):
    driver = browser
    open_playground(driver, service)
    text = f"Paris {XSS} Berlin"
    driver.execute_script("document.getElementById('extract-text').value = arguments[0]", text)
    set_field(driver, "zs-labels", f"{XSS}\nplace: {XSS}")
    set_field(driver, "zs-threshold", "0")
    run_extract(driver)
    assert XSS in driver.find_element(By.ID, "highlighted").text
    assert XSS in driver.find_element(By.ID, "legend").text

    driver.find_element(By.CSS_SELECTOR, "button[data-panel=train-panel]").click()
    set_field(driver, "train-labels", XSS)
    set_field(driver, "train-sentences", text)
    driver.find_element(By.ID, "add-sentences").click()
    ActionChains(driver).send_keys("1").perform()
    set_field(driver, "job-tagger", XSS)
    driver.find_element(By.ID, "job-submit").click()
    errors = wait(driver, lambda d: d.find_element(By.ID, "job-errors").text)
    assert "tagger" in errors and "invalid_request" in errors
    assert driver.find_element(By.CSS_SELECTOR, ".span-list li").get_attribute("data-label") == XSS
    driver.shots.take("payloads")
    assert driver.execute_script("return document.querySelectorAll('img').length") == 0
    assert driver.execute_script("return window.__xss") is None


def test_a_refused_key_is_asked_again(service, browser):
    driver = browser
    driver.get(f"{service}/ui/")
    wait(driver, lambda d: d.find_element(By.ID, "key-box").is_displayed())
    driver.find_element(By.ID, "api-key").send_keys("wrong", Keys.ENTER)
    wait(driver, lambda d: "refused" in d.find_element(By.ID, "key-message").text)
    assert driver.find_element(By.ID, "key-box").is_displayed()
    driver.shots.take("key-refused")


def contrast(foreground: str, background: str) -> float:
    def luminance(colour: str) -> float:
        channels = [int(float(c)) / 255 for c in colour[colour.index("(") + 1 : -1].split(",")[:3]]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_accessibility_basics_at_375_px(service, browser):
    driver = browser
    driver.set_window_size(375, 900)
    open_playground(driver, service)
    set_field(driver, "zs-threshold", "0")
    run_extract(driver)
    for panel in ("extract-panel", "train-panel", "taggers-panel"):
        driver.find_element(By.CSS_SELECTOR, f"button[data-panel={panel}]").click()
        width = driver.execute_script("return document.documentElement.scrollWidth")
        assert width <= 375, f"{panel} is {width} px wide"
        unnamed = driver.execute_script(
            """return [...document.querySelectorAll('input, select, textarea, button')]
                 .filter(e => e.offsetParent !== null)
                 .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                              && !e.textContent.trim())
                 .map(e => e.outerHTML)"""
        )
        assert not unnamed, unnamed
        driver.shots.take(f"narrow-{panel}")

    # text on every background it sits on: marks, buttons, muted notes, body
    driver.find_element(By.CSS_SELECTOR, "button[data-panel=extract-panel]").click()
    pairs = driver.execute_script(
        """const style = e => getComputedStyle(e);
           const background = e => { for (; e; e = e.parentElement) {
               const c = style(e).backgroundColor;
               if (c !== 'rgba(0, 0, 0, 0)') return c; } return 'rgb(255, 255, 255)'; };
           return [...document.querySelectorAll('mark.entity, button, .muted, label, td, h2')]
             .filter(e => e.offsetParent !== null)
             .map(e => [e.tagName + '.' + e.className, style(e).color, background(e)]);"""
    )
    assert len(pairs) > 10
    low = [(what, fg, bg) for what, fg, bg in pairs if contrast(fg, bg) < 4.5]
    assert not low, low

    # focus order follows the form: text, labels, encoder, threshold, taggers, extract
    driver.find_element(By.ID, "extract-text").click()
    order = []
    for _ in range(8):
        driver.switch_to.active_element.send_keys(Keys.TAB)
        order.append(driver.switch_to.active_element.get_attribute("id"))
    assert order[:7] == [
        "use-labels",
        "zs-labels",
        "zs-encoder",
        "zs-threshold",
        "zs-multi",
        "tagger-choice-0",
        "tagger-choice-0-version",
    ]
