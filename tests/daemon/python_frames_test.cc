#include "profiles/python_frames.h"

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

}  // namespace
}  // namespace profd
