"""Images in chat (README, "Images"): reading an image a client sends (a data URL, or an http(s) URL fetched with
SSRF protection), checking it is a PNG, JPEG, WebP or GIF within the size limit, and what it costs in prompt
tokens. The result is `parley.llm.base.ImagePart`, which providers map to their wire formats."""
