// Images through the official Node OpenAI SDK (an `image_url` part with a data URL, answered as a stream) and the
// Vercel AI SDK (an `image` part of raw bytes in a user message, through generateText), to a vision model. Run by
// tests/conformance/test_node_sdk.py with PARLEY_URL, PARLEY_KEY and the image's bytes (PARLEY_IMAGE, base64)
// set; prints one JSON object of what the SDKs returned, which the Python test asserts on.
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { generateText } from "ai";
import OpenAI from "openai";

const baseURL = `${process.env.PARLEY_URL}/v1`;
const image = process.env.PARLEY_IMAGE;
const result = {};

const client = new OpenAI({ baseURL, apiKey: process.env.PARLEY_KEY, maxRetries: 0 });
const stream = await client.chat.completions.create({
  model: "eyes",
  stream: true,
  messages: [
    {
      role: "user",
      content: [
        { type: "text", text: "what is this?" },
        { type: "image_url", image_url: { url: `data:image/png;base64,${image}`, detail: "high" } },
      ],
    },
  ],
});
let text = "";
for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
result.openai = text;

// No media type given: the AI SDK finds it from the bytes.
const parley = createOpenAICompatible({ name: "parley", baseURL, apiKey: process.env.PARLEY_KEY });
const generated = await generateText({
  model: parley.chatModel("eyes"),
  maxRetries: 0,
  messages: [
    {
      role: "user",
      content: [
        { type: "text", text: "and this?" },
        { type: "image", image: new Uint8Array(Buffer.from(image, "base64")) },
      ],
    },
  ],
});
result.aiSdk = generated.text;

console.log(JSON.stringify(result));
