"""Human-readable output for the CLI: key: value blocks, aligned tables, a progress bar."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TextIO

import numpy as np

from gatenet.vocabulary import enums

from ..family import Family
from ..results import ModelInfo, Prediction, Progress, Weights

MAX_VALUES_SHOWN = 64  # bigger tensors print their shape only; --json has every value


def _number(value: float) -> str:
    return f"{value:.4g}"


def fixed(value: float, digits: int = 3) -> str:
    """value with `digits` decimals; a value that rounds to zero prints 0.000, never -0.000."""
    return f"{round(value, digits) + 0.0:.{digits}f}"


def key_values(pairs: Sequence[tuple[str, Any]]) -> str:
    """Lines of "key  value" with the values aligned."""
    width = max(len(key) for key, _ in pairs)
    return "\n".join(f"{key + ':':<{width + 1}}  {value}" for key, value in pairs)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: set[int]) -> str:
    """An aligned table; columns whose index is in `right` are right-aligned (numbers)."""
    cells = [list(headers)] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


UNKNOWN = "unknown"  # a summary field nobody knows (an imported model's training)


def _known(value: Any, text: str) -> str:
    """text, or UNKNOWN when value is None."""
    return UNKNOWN if value is None else text


def task_label(spec: dict[str, Any]) -> str:
    """A short description of what a model learned: "xor", "table(3)", "examples(4x2)"."""
    if "gate" in spec:
        return str(spec["gate"].get("name", "?")).lower()
    if "truth_table" in spec:
        return f"table({spec['truth_table'].get('num_inputs', '?')})"
    if "examples" in spec:
        ex = spec["examples"]
        return f"examples({len(ex.get('targets', []))}x{ex.get('num_inputs', '?')})"
    return UNKNOWN


def family_label(info: ModelInfo) -> str:
    """A family's row: "family(16 of 2)" (its functions, their inputs)."""
    family = info.family or {}
    return f"family({family.get('functions', 0)} of {info.num_inputs})"


def _widths_label(info: ModelInfo) -> str:
    widths = (info.family or {}).get("widths", [])
    return f"widths {widths[0]}-{widths[-1]}" if widths else "-"


def _family_fit(info: ModelInfo) -> str:
    family = info.family or {}
    return f"{family.get('fit', 0)}/{family.get('functions', 0)}"


def network_label(info: ModelInfo) -> str:
    """The layer widths and activation, e.g. "2-4-1 tanh"."""
    network = info.spec.get("network", {})
    sizes = [info.num_inputs, *network.get("hidden_sizes", []), 1]
    activation = enums.short_name("activation", str(network.get("activation", "")))
    shape = "-".join(str(s) for s in sizes)
    return f"{shape} {activation}" if len(sizes) > 2 and activation else shape


def _option(spec: dict[str, Any], key: str) -> str:
    return enums.short_name(key, str(spec[key])) if key in spec else "-"


def recipe_label(spec: dict[str, Any]) -> str:
    """Method, loss, optimizer and schedule in one line."""
    lr = spec.get("learning_rate")
    return ", ".join(
        [
            _option(spec, "method"),
            f"{_option(spec, 'loss')}/{_option(spec, 'reduction')}",
            _option(spec, "optimizer") + (f" lr={lr:g}" if lr is not None else ""),
            _option(spec, "schedule"),
            # explicit initial weights replace the init scheme (which the spec still names)
            "initial weights" if spec.get("initial_weights") else f"init {_option(spec, 'init')}",
            *(
                f"{name} lr x{factor:g}"
                for name, factor in spec.get("learning_rate_scale", {}).items()
            ),
        ]
    )


def fit_label(info: ModelInfo) -> str:
    """ "yes  (margin 0.447)", "no  (margin -0.120, measured at import)" or "unknown"."""
    if info.fit is None or info.margin_reached is None:
        return UNKNOWN
    how = ", measured at import" if info.measured else ""
    return f"{'yes' if info.fit else 'no'}  (margin {fixed(info.margin_reached)}{how})"


def model_info(info: ModelInfo) -> str:
    """A model's id, task, network and training summary as key: value lines."""
    restarts = f"{info.restarts} ({info.restarts_fit} fit, kept #{info.restart_index})"
    task = task_label(info.spec)
    return key_values(
        [
            ("model", info.model_id + (f"  ({info.name})" if info.name else "")),
            ("task", task),
            ("network", network_label(info)),
            ("recipe", recipe_label(info.spec) if task != UNKNOWN else UNKNOWN),
            ("fit", fit_label(info)),
            ("accuracy", _known(info.accuracy, fixed(info.accuracy or 0.0))),
            ("final loss", _known(info.final_loss, _number(info.final_loss or 0.0))),
            ("steps", _known(info.steps, str(info.steps))),
            ("restarts", _known(info.restarts, restarts)),
            ("seed", _known(info.seed_used, str(info.seed_used))),
            ("time", _known(info.train_seconds, f"{info.train_seconds or 0.0:.3f} s")),
            *([("imported from", info.imported_from)] if info.imported_from else []),
        ]
    )


def models_table(models: Sequence[ModelInfo]) -> str:
    """One row per model."""
    headers = ["ID", "NAME", "TASK", "NETWORK", "FIT", "ACCURACY", "LOSS", "STEPS", "CREATED"]
    rows = [
        [
            m.model_id,
            m.name or "-",
            "DAMAGED" if m.damage else family_label(m) if m.family else task_label(m.spec),
            "-" if m.damage else _widths_label(m) if m.family else network_label(m),
            _family_fit(m) if m.family else "-" if m.fit is None else "yes" if m.fit else "no",
            "-" if m.accuracy is None else fixed(m.accuracy),
            "-" if m.final_loss is None else _number(m.final_loss),
            "-" if m.steps is None else m.steps,
            datetime.fromtimestamp(m.created_at).strftime("%Y-%m-%d %H:%M:%S"),
        ]
        for m in models
    ]
    return table(headers, rows, right={5, 6, 7})


def prediction(result: Prediction, rows: np.ndarray) -> str:
    """One line per row: the inputs, the probability and the label."""
    lines = [
        [i, " ".join(f"{v:g}" for v in row), f"{p:.4f}", label]
        for i, (row, p, label) in enumerate(
            zip(rows, result.probabilities, result.labels, strict=False)
        )
    ]
    body = table(["ROW", "INPUTS", "PROBABILITY", "LABEL"], lines, right={0, 2, 3})
    return f"model: {result.model_id}\n{body}"


def weights(result: Weights) -> str:
    """Each tensor's name and shape, and its values when small enough to read."""
    out = [f"model: {result.model_id}"]
    for name, array in result.tensors.items():
        out.append(f"{name}  {list(array.shape)}")
        if array.size <= MAX_VALUES_SHOWN:
            for row in np.atleast_2d(array):
                out.append("  " + "  ".join(f"{v:9.4f}" for v in row))
        else:
            out.append(f"  ({array.size} values; --json prints them)")
    return "\n".join(out)


def duration(seconds: float) -> str:
    """Seconds for a person: "4.2s", "3m05s", "1h02m"."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


class ProgressBar:
    """A one-line progress bar redrawn on a terminal, or sparse plain lines elsewhere."""

    def __init__(
        self,
        stream: TextIO,
        total: int | None,
        width: int = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.total = total  # steps requested; None when the server picks the budget
        self.width = width
        self.tty = stream.isatty()
        self._clock = clock
        self._started = clock()
        self._last_draw = 0.0
        self._pending: Progress | None = None
        self._finished = False

    def line(self, p: Progress) -> str:
        """The bar for one event: share done, step/budget, loss, accuracy, restarts fit, ETA."""
        elapsed = self._clock() - self._started
        budget = f"/{self.total}" if self.total else ""
        stats = (
            f"step {p.step}{budget}  loss {p.best_loss:.4g}  acc {p.best_accuracy:.3f}"
            f"  fit {p.restarts_fit}/{p.restarts}  {duration(elapsed)}"
        )
        if self._finished:
            stats += "  done"
        if not self.total:
            return stats  # no budget known, so no share done and no ETA
        done = min(1.0, p.step / self.total)
        if not self._finished:
            # The budget is an upper bound: early stopping ends sooner once a restart fits.
            eta = elapsed * max(0, self.total - p.step) / p.step if p.step > 0 else None
            stats += f"  eta {'?' if eta is None else duration(eta)}"
        bar = "#" * round(done * self.width)
        return f"[{bar:<{self.width}}] {done:4.0%}  {stats}"

    def update(self, progress: Progress) -> None:
        """Show progress; throttled so a fast stream doesn't flood the terminal or a log."""
        now = self._clock()
        if now - self._last_draw < (0.1 if self.tty else 1.0) and self._last_draw:
            self._pending = progress
            return
        self._draw(progress)
        self._last_draw = now

    def _draw(self, progress: Progress) -> None:
        self._pending = None
        if self.tty:
            self.stream.write("\r\x1b[K" + self.line(progress))
        else:
            self.stream.write(self.line(progress) + "\n")
        self.stream.flush()

    def finish(self, info: ModelInfo) -> None:
        """Show where training ended (from the model's summary) once the bar closes."""
        self._finished = True
        self._pending = Progress(  # a trained model: every field is known
            step=info.steps or 0,
            best_loss=info.final_loss or 0.0,
            best_accuracy=info.accuracy or 0.0,
            restarts_fit=info.restarts_fit or 0,
            restarts=info.restarts or 0,
        )

    def close(self) -> None:
        """Draw the last event held back by throttling (or the finish) and end the line."""
        if self._pending is not None:
            self._draw(self._pending)
        if self.tty and self._last_draw:
            self.stream.write("\n")
            self.stream.flush()


def capacity_table(family: Family) -> str:
    """A family's capacity table: functions whose smallest fitting width is each width."""
    classes = f", {family.classes} classes trained" if family.classes else ""
    lines = [
        f"family {family.name}: {family.fit} of {family.functions} functions of "
        f"{family.inputs} inputs fit in {family.seconds:.2f} s{classes}"
        + ("" if family.stopped_by == "done" else f" (stopped by {family.stopped_by})"),
        f"{'width':>5}  {'fit':>6}  {'total':>6}",
    ]
    total = 0
    for width in family.widths:
        count = family.fit_by_width.get(width, 0)
        total += count
        lines.append(f"{width:>5}  {count:>6}  {total:>6}")
    lines.append(f"{'none':>5}  {family.functions - family.fit:>6}")
    return "\n".join(lines)
