// start_at: where a new cursor starts in the queue (see docs/GLOSSARY.md).
#pragma once

namespace relay {

enum class StartAt {
  tail,  // only messages appended from now on
  head,  // the oldest message still readable
};

}  // namespace relay
