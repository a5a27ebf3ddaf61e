#include "profiles/python_frames.h"

#include <string>

#include "process/python_runtime.h"

#include <gtest/gtest.h>

namespace profd {
namespace {

TEST(PythonModuleName, ScriptIsItsFileName) {
  EXPECT_EQ(PythonModuleName("/tmp/work/python_split.py"), "python_split");
  EXPECT_EQ(PythonModuleName("app.py"), "app");
  EXPECT_EQ(PythonModuleName("<string>"), "<string>");
}

TEST(PythonModuleName, StandardLibraryIsDottedBelowLibPython) {
  EXPECT_EQ(PythonModuleName("/usr/lib/python3.11/json/decoder.py"), "json.decoder");
  EXPECT_EQ(PythonModuleName("/root/.pyenv/versions/3.11.7/lib/python3.11/threading.py"),
            "threading");
  EXPECT_EQ(PythonModuleName("/usr/lib/python3.11/concurrent/futures/__init__.py"),
            "concurrent.futures");
  EXPECT_EQ(PythonModuleName("<frozen importlib._bootstrap>"), "importlib._bootstrap");
}

TEST(PythonModuleName, PackagesAreDottedBelowSiteOrDistPackages) {
  EXPECT_EQ(PythonModuleName("/usr/lib/python3/dist-packages/requests/sessions.py"),
            "requests.sessions");
  EXPECT_EQ(PythonModuleName("/srv/venv/lib/python3.11/site-packages/flask/app.py"), "flask.app");
  EXPECT_EQ(PythonModuleName("/srv/venv/lib/python3.11/site-packages/six.py"), "six");
}

// CPython keeps a name with a character beyond ASCII as one, two or four bytes a character.
TEST(DecodePythonCharacters, EachKindToUtf8) {
  EXPECT_EQ(DecodePythonCharacters("caf\xe9", 1), "caf\u00e9");
  EXPECT_EQ(DecodePythonCharacters(std::string("\x1b\x04\x3e\x04\x33\x04", 6), 2),
            "\u041b\u043e\u0433");  // Лог
  EXPECT_EQ(DecodePythonCharacters(std::string("\x0d\xf6\x01\x00", 4), 4), "\U0001F60D");
  EXPECT_EQ(DecodePythonCharacters(std::string("\x00\xd8", 2), 2), "\uFFFD");  // lone surrogate
  EXPECT_EQ(DecodePythonCharacters("abc", 2), "\u6261");  // a cut last character is left out
}

}  // namespace
}  // namespace profd
