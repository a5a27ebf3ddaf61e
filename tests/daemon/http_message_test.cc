#include "service/http_message.h"

#include <gtest/gtest.h>

#include <string>

namespace profd {
namespace {

TEST(ParseHttpRequestHead, AbsoluteFormAndLeadingEmptyLines) {
  HttpRequest request;
  int status;
  std::string error;
  ASSERT_TRUE(ParseHttpRequestHead(
      "\r\nGET http://127.0.0.1:6061/debug/pprof/heap?debug=1 HTTP/1.1\r\nHost: x\r\n\r\n",
      &request, &status, &error))
      << error;
  EXPECT_EQ(request.path, "/debug/pprof/heap");
  EXPECT_EQ(request.query["debug"], "1");
  ASSERT_TRUE(ParseHttpRequestHead("GET / HTTP/1.0\r\n\r\n", &request, &status, &error))
      << error;  // HTTP/1.0 needs no Host
  ASSERT_TRUE(ParseHttpRequestHead("GET / HTTP/1.1\r\nHost: x\r\nAccept: a\r\naccept:  b \r\n\r\n",
                                   &request, &status, &error));
  EXPECT_EQ(request.headers["accept"], "a, b");
}

TEST(PercentDecode, EscapesAndPlus) {
  std::string out;
  EXPECT_TRUE(PercentDecode("a%20b+c%2fd%C3%A9", true, &out));
  EXPECT_EQ(out, "a b c/d\xc3\xa9");
  EXPECT_TRUE(PercentDecode("a+b", false, &out));
  EXPECT_EQ(out, "a+b");
  EXPECT_FALSE(PercentDecode("%", true, &out));
  EXPECT_FALSE(PercentDecode("%4", true, &out));
  EXPECT_FALSE(PercentDecode("%g0", true, &out));
}

}  // namespace
}  // namespace profd
