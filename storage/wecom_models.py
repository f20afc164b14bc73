"""Models of the WeCom chat front (dedupe of callbacks, card state). Filled by issue #3."""
