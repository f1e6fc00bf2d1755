"""Every rule of ``vlmeval_core/scoring/extract.py`` is pinned by a case below.

:data:`SPEC` is the specification of answer extraction, one case per rule (the
rules are listed in the module's docstring). The mutation check makes it stay
complete: it takes ``extract.py`` apart one rule at a time (an ``if`` dropped, its
condition forced true, one operand of its ``and``/``or`` dropped, a refusal
phrase or a separator character removed, the last-tokens window moved) and asserts
that some case of :data:`SPEC` then fails. A rule added to ``extract.py`` without
a case here fails this file.
"""

from __future__ import annotations

import ast
import copy
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from vlmeval_core.scoring import extract

SOURCE = Path(extract.__file__).read_text(encoding="utf-8")
OPTIONS = {"A": "a cat", "B": "a dog", "C": "a red bird", "D": "two fish"}
SEPARATORS = ".()[],:;!*#{}"


@dataclass(frozen=True)
class Case:
    """``text`` reads as ``expected`` (an exception class: raises it)."""

    text: str
    expected: Any
    options: dict[str, str] = field(default_factory=lambda: OPTIONS)
    yes_no: bool = False

    def holds(self, module: Any) -> bool:
        try:
            if self.yes_no:
                got = module.extract_yes_no(self.text)
            else:
                got = module.extract_option(self.text, self.options)
        except Exception as exc:  # a broken mutant fails the case
            return isinstance(self.expected, type) and isinstance(exc, self.expected)
        return got == self.expected


REFUSAL_CASES = [
    # 1. a canned refusal reads as 'Z' wherever it is, whatever letter the text also has
    *(Case(refusal, "Z") for refusal in extract.REFUSALS),
    *(Case(f"B. {refusal}", "Z") for refusal in extract.REFUSALS),
]
API_FAILURE_CASES = [
    # VLMEvalKit's API failure text gives no letter, nor 'Z' for a refusal it holds ...
    Case("Failed to obtain answer via API. B", None),
    Case("Failed to obtain answer via API. Cannot determine the answer", None),
    Case("Failed to obtain answer via API: Z", None),
    # ... but the option texts are still tried
    Case("Failed to obtain answer via API: a dog", "B"),
]
LONE_Z_CASES = [
    # no option letter among the tokens but a lone Z: 'Z', the no-answer letter
    Case("Z", "Z"),
    Case("I pick Z, there is no answer", "Z"),
    # an option letter wins over Z, and two letters make no lone Z
    Case("Z or B", "B"),
    Case("A, B or Z", None),
    # a lower-case z is no token
    Case("z", None),
]
SPEC = [
    *REFUSAL_CASES,
    *API_FAILURE_CASES,
    *LONE_Z_CASES,
    # option keys are single upper-case letters
    Case("A", ValueError, options={"a": "x"}),
    Case("A", ValueError, options={"AB": "x"}),
    # 2. exactly one of the item's letters among the tokens (upper case only) ...
    Case("B", "B"),
    Case("b", None),
    Case("E", None),
    Case("B or C", None),
    # ... each separator turned into a space first ...
    *(Case(f"The pick{sep}B", "B") for sep in SEPARATORS),
    # ... counts when its first occurrence is among the last four tokens
    Case("B is my final answer", None),
    Case("B is my answer", "B"),
    Case("so I pick B here right now", "B"),
    Case("so I pick B here right now, ok", None),
    Case("B then B and then some more", None),
    # 3. "answer is X", case-insensitive, when the letter rule gave nothing
    Case("the answer is c", "C"),
    Case("I am sure that my answer is **d** really", "D"),
    Case("B and C are wrong, the answer is d", "D"),
    Case("the answer is d", None, options={"A": "x", "B": "y", "C": "z"}),
    # 4. exactly one option's text in the output, unless it is longer than twice them all
    Case("I see a dog in the picture", "B"),
    Case("a dog and a cat", None),
    Case("it is a dog", "B", options={"A": "cat", "B": "dog"}),  # 11 characters: tried
    Case("it is a dog!!", None, options={"A": "cat", "B": "dog"}),  # 13: not
    Case("", None),
    # Yes / No: exactly one of the two words, after the VQA punctuation rule
    Case("Yes.", "Yes", yes_no=True),
    Case("no, it is not", "No", yes_no=True),
    Case("Yes and no", None, yes_no=True),
    Case("Yesterday", None, yes_no=True),
    Case("", None, yes_no=True),
]


def spec_id(case: Case) -> str:
    return f"{'yes_no' if case.yes_no else 'option'}:{case.text!r}"


@pytest.mark.parametrize("case", SPEC, ids=spec_id)
def test_the_specification_holds(case: Case) -> None:
    assert case.holds(extract)


@pytest.mark.parametrize("refusal", extract.REFUSALS)
def test_a_canned_refusal_reads_as_z_even_beside_an_option_letter(refusal: str) -> None:
    assert extract.extract_option(refusal, OPTIONS) == "Z"
    assert extract.extract_option(f"The answer is B. {refusal}", OPTIONS) == "Z"


def test_an_api_failure_gives_no_letter_but_an_option_text_still_counts() -> None:
    assert extract.extract_option("Failed to obtain answer via API. B", OPTIONS) is None
    failed_refusal = "Failed to obtain answer via API. Cannot determine the answer"
    assert extract.extract_option(failed_refusal, OPTIONS) is None, "not 'Z'"
    assert extract.extract_option("Failed to obtain answer via API: a dog", OPTIONS) == "B"


def test_a_lone_z_with_no_option_letter_reads_as_z() -> None:
    assert extract.extract_option("Z", OPTIONS) == "Z"
    assert extract.extract_option("I pick Z, there is no answer", OPTIONS) == "Z"
    assert extract.extract_option("Z or B", OPTIONS) == "B", "an option letter wins"
    assert extract.extract_option("A, B or Z", OPTIONS) is None, "two letters: no lone Z"


# --------------------------------------------------------------------------- mutation check


class _Mutate(ast.NodeTransformer):
    """Applies ``edit`` to the ``target``-th node that ``kind`` accepts (document order)."""

    def __init__(self, kind: Callable[[ast.AST], bool], target: int, edit: Callable) -> None:
        self.kind, self.target, self.edit, self.seen = kind, target, edit, -1

    def visit(self, node: ast.AST) -> Any:
        if self.kind(node):
            self.seen += 1
            if self.seen == self.target:
                return self.edit(node)
        return self.generic_visit(node)


def _drop_branch(node: ast.If) -> list[ast.stmt]:
    return node.orelse or [ast.Pass()]


def _always_true(node: ast.If | ast.IfExp) -> ast.AST:
    node.test = ast.Constant(True)
    return node


def _condition_operands(tree: ast.AST) -> Iterator[tuple[str, ast.If | ast.IfExp, int]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.If | ast.IfExp) and isinstance(node.test, ast.BoolOp):
            for position in range(len(node.test.values)):
                yield ast.unparse(node.test), node, position


def _assigned(name: str) -> Callable[[ast.AST], bool]:
    def is_it(node: ast.AST) -> bool:
        targets = node.targets if isinstance(node, ast.Assign) else []
        return any(isinstance(t, ast.Name) and t.id == name for t in targets)

    return is_it


def _without_element(position: int) -> Callable[[ast.Assign], ast.Assign]:
    def edit(node: ast.Assign) -> ast.Assign:
        assert isinstance(node.value, ast.Tuple)
        del node.value.elts[position]
        return node

    return edit


def _separators_without(character: str) -> Callable[[ast.Assign], ast.Assign]:
    def edit(node: ast.Assign) -> ast.Assign:
        (literal,) = [
            n for n in ast.walk(node) if isinstance(n, ast.Constant) and n.value == SEPARATORS
        ]
        literal.value = SEPARATORS.replace(character, "")
        return node

    return edit


def _set_to(value: int) -> Callable[[ast.Assign], ast.Assign]:
    def edit(node: ast.Assign) -> ast.Assign:
        node.value = ast.Constant(value)
        return node

    return edit


def mutants() -> Iterator[tuple[str, ast.Module]]:
    """(what was taken out, the module's syntax tree without it), one rule at a time."""
    tree = ast.parse(SOURCE)

    def edited(kind: Callable[[ast.AST], bool], target: int, edit: Callable) -> ast.Module:
        return ast.fix_missing_locations(_Mutate(kind, target, edit).visit(copy.deepcopy(tree)))

    def is_if(node: ast.AST) -> bool:
        return isinstance(node, ast.If)

    def is_conditional(node: ast.AST) -> bool:
        return isinstance(node, ast.If | ast.IfExp)

    for k, node in enumerate(n for n in _walk_in_order(tree) if is_if(n)):
        yield f"if {ast.unparse(node.test)}: dropped", edited(is_if, k, _drop_branch)
    for k, node in enumerate(n for n in _walk_in_order(tree) if is_conditional(n)):
        yield f"{ast.unparse(node.test)}: always true", edited(is_conditional, k, _always_true)
    for k, (test, _, position) in enumerate(_condition_operands(tree)):
        yield f"{test}: operand {position} dropped", _operand_dropped(tree, k)
    refusals = _assigned("REFUSALS")
    for k, refusal in enumerate(extract.REFUSALS):
        yield f"refusal {refusal!r} removed", edited(refusals, 0, _without_element(k))
    for character in SEPARATORS:
        yield (
            f"separator {character!r} removed",
            edited(_assigned("_SEPARATORS"), 0, _separators_without(character)),
        )
    for value in (extract.LAST_TOKENS - 1, extract.LAST_TOKENS + 1):
        yield f"LAST_TOKENS = {value}", edited(_assigned("LAST_TOKENS"), 0, _set_to(value))


def _walk_in_order(tree: ast.AST) -> Iterator[ast.AST]:
    """The nodes in the order :class:`_Mutate` meets them (depth first, document order)."""
    yield tree
    for child in ast.iter_child_nodes(tree):
        yield from _walk_in_order(child)


def _operand_dropped(tree: ast.AST, target: int) -> ast.Module:
    mutant = copy.deepcopy(tree)
    _, conditional, position = list(_condition_operands(mutant))[target]
    del conditional.test.values[position]
    if len(conditional.test.values) == 1:
        conditional.test = conditional.test.values[0]
    return ast.fix_missing_locations(mutant)


def load(tree: ast.Module) -> types.ModuleType:
    module = types.ModuleType("extract_mutant")
    exec(compile(tree, extract.__file__, "exec"), module.__dict__)
    return module


MUTANTS = list(mutants())


def test_the_mutation_check_takes_out_every_kind_of_rule() -> None:
    names = [name for name, _ in MUTANTS]
    ifs = [node for node in ast.walk(ast.parse(SOURCE)) if isinstance(node, ast.If)]
    assert sum(n.startswith("if ") and n.endswith(": dropped") for n in names) == len(ifs)
    assert any("API_FAILURE in text" in n for n in names)
    assert any("refusal in text" in n for n in names)
    assert any("NO_ANSWER in tokens" in n for n in names)
    assert sum(n.startswith("refusal ") for n in names) == len(extract.REFUSALS)
    for name, tree in MUTANTS:
        assert ast.unparse(tree) != ast.unparse(ast.parse(SOURCE)), name


@pytest.mark.parametrize(("removed", "tree"), MUTANTS, ids=[name for name, _ in MUTANTS])
def test_taking_out_any_rule_of_extract_py_fails_a_case_of_the_spec(removed, tree) -> None:
    mutant = load(tree)
    assert [case for case in SPEC if not case.holds(mutant)], f"no case pins: {removed}"
