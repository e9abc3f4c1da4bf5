"""The browser REPL's read-eval-print loop; the REPL page runs it inside the artifact's interpreter.

The page sends each submission as one JSON line on stdin, {"code": "..."}, so a submission may
span lines freely. Each top-level statement runs as in the interactive interpreter (an
expression's value is echoed), and the first error stops the submission with a traceback on
stderr. End of input, exit() or quit() ends the interpreter.
"""

import ast
import code
import json
import linecache
import sys


def main() -> None:
    console = code.InteractiveInterpreter({"__name__": "__main__", "__doc__": None})
    print(f"Python {sys.version} on {sys.platform}")
    print('Type Python below; Shift+Enter for a new line, Enter to run.')
    submission = 0
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        submission += 1
        run(console, json.loads(line)["code"], f"<input-{submission}>")


def run(console: code.InteractiveInterpreter, source: str, filename: str) -> None:
    # Registered so that tracebacks can show the offending line, as the terminal REPL does.
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    try:
        tree = ast.parse(source, filename, "exec")
    except (SyntaxError, ValueError, OverflowError):
        console.showsyntaxerror(filename, source=source)
        return
    for statement in tree.body:
        compiled = compile(ast.Interactive(body=[statement]), filename, "single")
        try:
            exec(compiled, console.locals)
        except SystemExit:
            raise
        except BaseException:
            # Drops this frame from the traceback: the user sees only their own code.
            console.showtraceback()
            return


main()
