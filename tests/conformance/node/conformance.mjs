// The official Node OpenAI SDK against a running Parley: a tool round, streamed tool calls, structured output.
// Run by tests/conformance/test_node_sdk.py with PARLEY_URL and PARLEY_KEY set; prints one JSON object of what
// the SDK returned, which the Python test asserts on (a failure of the SDK exits non-zero with its error).
import OpenAI from "openai";

const client = new OpenAI({ baseURL: `${process.env.PARLEY_URL}/v1`, apiKey: process.env.PARLEY_KEY, maxRetries: 0 });
const weather = {
  type: "function",
  function: {
    name: "get_weather",
    description: "The weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};
const question = [{ role: "user", content: "Weather in Paris?" }];
const result = {};

const first = await client.chat.completions.create({ model: "echo", messages: question, tools: [weather] });
const call = first.choices[0].message.tool_calls[0];
result.first = { finish: first.choices[0].finish_reason, name: call.function.name, arguments: call.function.arguments };

const second = await client.chat.completions.create({
  model: "echo",
  messages: [...question, first.choices[0].message, { role: "tool", tool_call_id: call.id, content: "18 and sunny" }],
  tools: [weather],
});
result.second = { finish: second.choices[0].finish_reason, content: second.choices[0].message.content };

// Streamed calls, assembled by the SDK's own stream helper.
const runner = client.chat.completions.stream({
  model: "echo",
  messages: question,
  tools: [weather],
  tool_choice: { type: "function", function: { name: "get_weather" } },
});
let deltas = 0;
runner.on("chunk", (chunk) => {
  deltas += chunk.choices[0]?.delta?.tool_calls?.length ?? 0;
});
const streamed = await runner.finalChatCompletion();
const streamedCall = streamed.choices[0].message.tool_calls[0];
result.streamed = {
  finish: streamed.choices[0].finish_reason,
  name: streamedCall.function.name,
  arguments: streamedCall.function.arguments,
  deltas,
};

const structured = await client.chat.completions.create({
  model: "echo",
  messages: [{ role: "user", content: "weather" }],
  response_format: {
    type: "json_schema",
    json_schema: {
      name: "weather",
      strict: true,
      schema: {
        type: "object",
        properties: { city: { type: "string" }, degrees: { type: "integer" } },
        required: ["city", "degrees"],
        additionalProperties: false,
      },
    },
  },
});
result.structured = JSON.parse(structured.choices[0].message.content);

try {
  await client.chat.completions.create({ model: "text-only", messages: question, tools: [weather] });
  result.refused = null;
} catch (error) {
  result.refused = { status: error.status, param: error.param, message: error.message };
}

const model = await client.models.retrieve("echo");
result.model = { id: model.id, capabilities: model.capabilities, context_window: model.context_window };

console.log(JSON.stringify(result));
