#include "runtime/sampling/stop_string_matcher.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace hobbit::runtime {
namespace {

struct Streamed {
  std::string text;  // everything emitted, Flush included
  bool stopped = false;
  std::vector<std::string> emits;  // per Push
};

Streamed Stream(std::vector<std::string> stops, const std::vector<std::string>& deltas) {
  StopStringMatcher matcher(std::move(stops));
  Streamed out;
  for (const std::string& delta : deltas) {
    StopStringMatcher::Result r = matcher.Push(delta);
    out.emits.push_back(r.emit);
    out.text += r.emit;
    if (r.stopped) {
      out.stopped = true;
      break;
    }
  }
  out.text += matcher.Flush();
  return out;
}

TEST(StopStringMatcherTest, StopSplitAcrossDeltas) {
  const Streamed s = Stream({"world"}, {"Hello wor", "ld", "!"});
  EXPECT_TRUE(s.stopped);
  EXPECT_EQ(s.text, "Hello ");
  ASSERT_EQ(s.emits.size(), 2u);
  EXPECT_EQ(s.emits[0], "Hello ");  // "wor" is held back: it could start "world"
  EXPECT_EQ(s.emits[1], "");
}

TEST(StopStringMatcherTest, HeldBackTextIsReleasedWhenItStopsMatching) {
  const Streamed s = Stream({"world"}, {"Hello wor", "m", " farm"});
  EXPECT_FALSE(s.stopped);
  EXPECT_EQ(s.emits[0], "Hello ");
  EXPECT_EQ(s.emits[1], "worm");
  EXPECT_EQ(s.text, "Hello worm farm");
}

TEST(StopStringMatcherTest, NoStopsPassesEverythingThrough) {
  const Streamed s = Stream({}, {"a", "bc", ""});
  EXPECT_EQ(s.emits, (std::vector<std::string>{"a", "bc", ""}));
  EXPECT_FALSE(s.stopped);
}

TEST(StopStringMatcherTest, EmptyStopStringsAreIgnored) {
  const Streamed s = Stream({"", "x"}, {"ab", "cx"});
  EXPECT_TRUE(s.stopped);
  EXPECT_EQ(s.text, "abc");
}

TEST(StopStringMatcherTest, EarliestOfSeveralStopsWins) {
  const Streamed s = Stream({"END", "stop", "\n\n"}, {"one\n", "\ntwo stop END"});
  EXPECT_TRUE(s.stopped);
  EXPECT_EQ(s.text, "one");
}

TEST(StopStringMatcherTest, EarliestMatchWinsWithinOneDelta) {
  EXPECT_EQ(Stream({"cd", "ab"}, {"xxabcd"}).text, "xx");
  EXPECT_EQ(Stream({"abc", "bcd"}, {"xabcd"}).text, "x");
  EXPECT_EQ(Stream({"bcd", "ab"}, {"xbc", "d ab"}).text, "x");
}

TEST(StopStringMatcherTest, OverlappingPrefixes) {
  // "aab": after "a", "a", "a" only the last two can still start the stop string.
  const Streamed s = Stream({"aab"}, {"a", "a", "a", "b"});
  EXPECT_TRUE(s.stopped);
  EXPECT_EQ(s.text, "a");
  EXPECT_EQ(s.emits, (std::vector<std::string>{"", "", "a", ""}));
  // Stops that are prefixes of each other: the shorter, earlier one is found first.
  EXPECT_EQ(Stream({"abcd", "ab"}, {"xa", "bcd"}).text, "x");
  // A longer stop's held-back tail that turns out to be a different stop.
  EXPECT_EQ(Stream({"<|im_end|>", "<|endoftext|>"}, {"ok<|", "end", "oftext|>"}).text, "ok");
}

TEST(StopStringMatcherTest, HoldsBackOnlyWhatCanStillMatch) {
  const Streamed s = Stream({"abab"}, {"xaba", "c"});
  EXPECT_EQ(s.emits[0], "x");  // "aba" may become "abab"
  EXPECT_EQ(s.emits[1], "abac");
  EXPECT_FALSE(s.stopped);
}

TEST(StopStringMatcherTest, StopAtTheVeryStart) {
  const Streamed s = Stream({"###"}, {"###", "more"});
  EXPECT_TRUE(s.stopped);
  EXPECT_EQ(s.text, "");
  EXPECT_EQ(s.emits.size(), 1u);
  EXPECT_EQ(Stream({"###"}, {"#", "##tail"}).text, "");
}

TEST(StopStringMatcherTest, PushAfterStopReturnsNothing) {
  StopStringMatcher matcher({"x"});
  EXPECT_TRUE(matcher.Push("ax").stopped);
  const StopStringMatcher::Result later = matcher.Push("bbb");
  EXPECT_TRUE(later.stopped);
  EXPECT_EQ(later.emit, "");
  EXPECT_TRUE(matcher.stopped());
  EXPECT_EQ(matcher.Flush(), "");
}

TEST(StopStringMatcherTest, FlushReturnsTheHeldBackText) {
  StopStringMatcher matcher({"</s>"});
  EXPECT_EQ(matcher.Push("done </").emit, "done ");
  EXPECT_EQ(matcher.Flush(), "</");
  EXPECT_EQ(matcher.Flush(), "");
}

TEST(StopStringMatcherTest, UnicodeStopsSplitInsideACharacter) {
  // "。" is E3 80 82 and "終わり" starts with E7 B5 82; deltas cut through both.
  const Streamed s = Stream({"。", "終わり"}, {"こんにちは\xE3\x80", "\x82さようなら"});
  EXPECT_TRUE(s.stopped);
  EXPECT_EQ(s.text, "こんにちは");
  EXPECT_EQ(s.emits[0], "こんにちは");

  const Streamed t = Stream({"終わり"}, {"物語の\xE7", "\xB5\x82わ", "り。"});
  EXPECT_TRUE(t.stopped);
  EXPECT_EQ(t.text, "物語の");

  const Streamed u = Stream({"🛑"}, {"go \xF0\x9F", "\x9B", "\x91 no"});
  EXPECT_TRUE(u.stopped);
  EXPECT_EQ(u.text, "go ");

  // A held-back lead byte that turns into another character is released whole.
  const Streamed v = Stream({"終わり"}, {"\xE7", "\xB5\x82", "果"});
  EXPECT_FALSE(v.stopped);
  EXPECT_EQ(v.text, "終果");
}

}  // namespace
}  // namespace hobbit::runtime
