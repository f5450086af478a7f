"""The scoring rubric and the "too thin" test for answers (docs/engine.md, "The rubric").

Deterministic and offline: word lists, not a model. Three criteria, each 0-100:

- specificity: named tools and systems, figures, proper names (``SAP``, ``Excel``, ``40``);
  35 points per distinct item, capped at 100.
- concreteness: sequence words, actions and examples (``first``, ``then``, ``export``,
  ``for example``); 35 points per distinct item, capped at 100.
- completeness: length, 100 at 40 words or more, proportional below.

``score = round(0.35 * specificity + 0.35 * concreteness + 0.30 * completeness)``.

An answer is *thin* (worth one follow-up) when it has fewer than :data:`MIN_WORDS` words or
names no concrete step, action, tool or figure at all.
"""

import re
from dataclasses import dataclass

from interviews.engine.base import Evaluation

MIN_WORDS = 8
FULL_WORDS = 40
ITEM_POINTS = 35
WEIGHTS = {"specificity": 0.35, "concreteness": 0.35, "completeness": 0.30}
STRONG, WEAK = 70, 40

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?¿¡:;\n]")

# Both languages always apply: employees mix them ("lo subo al SharePoint", "hago el upload").
TOOLS = {
    # es
    "aplicación", "aplicacion", "app", "sistema", "sistemas", "programa", "programas", "herramienta",
    "herramientas", "hoja", "hojas", "plantilla", "plantillas", "formulario", "formularios", "correo",
    "correos", "plataforma", "portal", "base", "teléfono", "telefono", "impresora", "escáner", "escaner",
    "carpeta", "archivo", "archivos", "informe", "informes", "factura", "facturas", "pedido", "pedidos",
    "ticket", "tickets", "documento", "documentos", "papel", "web", "intranet", "servidor",
    # en
    "application", "system", "systems", "program", "tool", "tools", "spreadsheet", "spreadsheets",
    "template", "templates", "form", "forms", "email", "emails", "mail", "platform", "database",
    "phone", "printer", "scanner", "folder", "file", "files", "report", "reports", "invoice", "invoices",
    "order", "orders", "document", "documents", "paper", "website", "server", "dashboard",
    # names that are written in lower case too
    "excel", "sap", "erp", "crm", "outlook", "teams", "slack", "whatsapp", "jira", "sharepoint",
    "salesforce", "word", "powerpoint", "drive", "gmail", "sql", "api", "pdf", "csv",
}  # fmt: skip
STEPS = {
    # es
    "primero", "luego", "después", "despues", "entonces", "finalmente", "paso", "pasos", "siguiente",
    "antes", "cuando", "mientras", "ejemplo", "último", "ultimo", "segundo", "tercero", "termino",
    "empiezo", "reviso", "compruebo", "envío", "envio", "mando", "recibo", "registro", "introduzco",
    "relleno", "preparo", "exporto", "importo", "subo", "descargo", "actualizo", "valido", "apruebo",
    "llamo", "cargo", "genero", "imprimo", "firmo", "archivo", "calculo", "cuadro",
    # en
    "first", "then", "next", "after", "afterwards", "finally", "step", "steps", "before", "when",
    "while", "example", "last", "second", "third", "once", "start", "finish", "check", "review",
    "send", "receive", "enter", "fill", "prepare", "export", "import", "upload", "download", "update",
    "validate", "approve", "call", "load", "generate", "print", "sign", "calculate", "reconcile",
    "collect", "fix", "create", "record", "compare",
}  # fmt: skip
# Inflections the lists above miss: "revisamos", "exported", "checking", "uploads".
STEP_STEMS = ("revis", "comprob", "export", "import", "envi", "valid", "aprob", "actualiz", "registr")
STEP_SUFFIXES = ("s", "ed", "ing", "es")

LABELS = {
    "es": {
        "specificity": (
            "Menciona herramientas, sistemas o datos concretos",
            "Faltan nombres de herramientas, sistemas o cifras",
            "Menciona las herramientas, sistemas o cifras concretas que intervienen.",
        ),
        "concreteness": (
            "Describe acciones o pasos concretos",
            "No describe pasos ni acciones concretas",
            "Describe las acciones en orden, paso a paso, o da un ejemplo.",
        ),
        "completeness": (
            "Respuesta desarrollada",
            "Respuesta demasiado breve",
            "Amplía la respuesta con algo más de detalle.",
        ),
        "good": "Respuesta clara y concreta.",
    },
    "en": {
        "specificity": (
            "Names specific tools, systems or figures",
            "No specific tools, systems or figures",
            "Name the specific tools, systems or figures involved.",
        ),
        "concreteness": (
            "Describes concrete actions or steps",
            "No concrete steps or actions",
            "Describe the actions in order, step by step, or give an example.",
        ),
        "completeness": ("Well-developed answer", "Answer too brief", "Add a little more detail to the answer."),
        "good": "Clear, concrete answer.",
    },
}


@dataclass(frozen=True)
class Analysis:
    words: int
    specific: frozenset[str]
    concrete: frozenset[str]

    @property
    def criteria(self) -> dict[str, int]:
        return {
            "specificity": min(100, ITEM_POINTS * len(self.specific)),
            "concreteness": min(100, ITEM_POINTS * len(self.concrete)),
            "completeness": min(100, round(100 * self.words / FULL_WORDS)),
        }

    @property
    def score(self) -> int:
        return round(sum(WEIGHTS[name] * value for name, value in self.criteria.items()))

    @property
    def is_thin(self) -> bool:
        return self.words < MIN_WORDS or not (self.specific or self.concrete)


def _is_step(word: str) -> bool:
    if word in STEPS or word.startswith(STEP_STEMS):
        return True
    return any(word.endswith(suffix) and word[: -len(suffix)] in STEPS for suffix in STEP_SUFFIXES)


def analyse(answer: str) -> Analysis:
    specific: set[str] = set()
    concrete: set[str] = set()
    words = 0
    for sentence in _SENTENCE_END.split(answer):
        for position, match in enumerate(_WORD.finditer(sentence)):
            token = match.group()
            word = token.lower()
            words += 1
            # A capitalised word inside a sentence is a name (Kronos, SharePoint, SAP).
            is_name = position > 0 and token[0].isupper() and len(token) > 1
            if token.isdigit() or word in TOOLS or is_name:
                specific.add(word)
            if _is_step(word):
                concrete.add(word)
    return Analysis(words=words, specific=frozenset(specific), concrete=frozenset(concrete - specific))


def is_thin(answer: str) -> bool:
    return analyse(answer).is_thin


def evaluate(answer: str, language: str) -> Evaluation:
    """Score ``answer`` with the rubric; feedback, strengths and weaknesses in ``language``."""
    analysis = analyse(answer)
    labels = LABELS.get(language, LABELS["en"])
    criteria = analysis.criteria
    strengths = [labels[name][0] for name, value in criteria.items() if value >= STRONG]
    weaknesses = [labels[name][1] for name, value in criteria.items() if value < WEAK]
    weakest = min(criteria, key=lambda name: criteria[name])
    feedback = labels["good"] if criteria[weakest] >= STRONG else labels[weakest][2]
    return Evaluation(score=analysis.score, feedback=feedback, strengths=strengths, weaknesses=weaknesses)
