// The Vercel AI SDK (`ai` with `@ai-sdk/openai-compatible`) against a running Parley: generateText, streamText, a
// multi-step tool round (tools with `execute`) and generateObject with a zod schema. Run by
// tests/conformance/test_node_sdk.py with PARLEY_URL and PARLEY_KEY set; prints one JSON object of what the SDK
// returned, which the Python test asserts on (a failure of the SDK exits non-zero with its error).
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { generateObject, generateText, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";

const parley = createOpenAICompatible({
  name: "parley",
  baseURL: `${process.env.PARLEY_URL}/v1`,
  apiKey: process.env.PARLEY_KEY,
  includeUsage: true,
  // Parley takes `response_format: json_schema`: generateObject sends the zod schema as one.
  supportsStructuredOutputs: true,
});
const model = parley.chatModel("echo");
const result = {};

const generated = await generateText({ model, prompt: "hello from the ai sdk", maxRetries: 0 });
result.generated = { text: generated.text, finish: generated.finishReason, usage: generated.usage };

const streamed = streamText({ model, prompt: "one two three four five", maxRetries: 0 });
const pieces = [];
for await (const piece of streamed.textStream) pieces.push(piece);
result.streamed = { pieces: pieces.length, text: pieces.join(""), finish: await streamed.finishReason };

const calls = [];
const round = await generateText({
  model,
  prompt: "Weather in Paris?",
  maxRetries: 0,
  tools: {
    get_weather: tool({
      description: "The weather in a city",
      inputSchema: z.object({ city: z.string() }),
      execute: async ({ city }) => {
        calls.push(city);
        return `18 and sunny in ${city}`;
      },
    }),
  },
  stopWhen: stepCountIs(3),
});
result.tools = {
  calls,
  steps: round.steps.map((step) => step.finishReason),
  text: round.text,
};

const { object } = await generateObject({
  model,
  prompt: "weather",
  maxRetries: 0,
  schema: z.object({ city: z.string(), degrees: z.number().int().min(-40).max(60) }),
});
result.object = object;

console.log(JSON.stringify(result));
