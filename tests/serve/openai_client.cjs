// openai_client.cjs - the official `openai` npm package (6.x) against
// `swarm-infer serve`: what a user's code does with it must work unchanged.
// usage: node openai_client.cjs OPENAI_MODULE_DIR BASE_URL API_KEY (basic | constrained)
//   basic:       models, chat, chat streaming (with usage), completions, the
//                client's typed errors for 401 / 400 / 404
//   constrained: tools (tool_choice required / named / streamed) come back as
//                tool_calls with JSON arguments; response_format json_schema
//                and json_object content parses and validates
'use strict';
const [, , modDir, baseURL, apiKey, mode] = process.argv;
const OpenAI = require(modDir);

let failures = 0;
function check(cond, msg) {
    if (!cond) {
        failures++;
        console.log('FAIL: ' + msg);
    }
    return cond;
}

const client = new OpenAI({baseURL, apiKey, maxRetries: 0, timeout: 120000});

async function expectError(promise, Klass, status, what) {
    try {
        await promise;
        check(false, what + ': no error');
    } catch (e) {
        check(e instanceof Klass && e.status === status,
              `${what}: got ${e && e.constructor && e.constructor.name} ${e && e.status}: ${e}`);
        return e;
    }
    return null;
}

async function basic() {
    const models = [];
    for await (const m of client.models.list()) models.push(m);
    check(models.length === 1 && typeof models[0].id === 'string', 'models.list');
    const model = models[0].id;
    const messages = [
        {role: 'system', content: 'You answer in one word.'},
        {role: 'user', content: 'Say something.'},
    ];

    const r = await client.chat.completions.create(
        {model, messages, max_tokens: 10, seed: 7, temperature: 0.7});
    const c = r.choices[0];
    check(r.object === 'chat.completion' && c.message.role === 'assistant' &&
              typeof c.message.content === 'string',
          'chat response: ' + JSON.stringify(r));
    check(['stop', 'length'].includes(c.finish_reason), 'finish_reason ' + c.finish_reason);
    check(r.usage.completion_tokens <= 10 &&
              r.usage.total_tokens === r.usage.prompt_tokens + r.usage.completion_tokens,
          'usage ' + JSON.stringify(r.usage));

    // the same seed again (now through the slot's reused prefix), then streamed
    const again = await client.chat.completions.create(
        {model, messages, max_tokens: 10, seed: 7, temperature: 0.7});
    const stream = await client.chat.completions.create({
        model,
        messages,
        max_tokens: 10,
        seed: 7,
        temperature: 0.7,
        stream: true,
        stream_options: {include_usage: true},
    });
    let text = '', finish = null, usage = null, n = 0;
    for await (const chunk of stream) {
        n++;
        check(chunk.object === 'chat.completion.chunk', 'chunk object ' + chunk.object);
        if (chunk.usage) usage = chunk.usage;
        for (const ch of chunk.choices) {
            text += ch.delta.content || '';
            if (ch.finish_reason) finish = ch.finish_reason;
        }
    }
    check(n >= 2 && text === again.choices[0].message.content,
          `streamed ${JSON.stringify(text)} vs ${JSON.stringify(again.choices[0].message.content)}`);
    check(finish === again.choices[0].finish_reason, 'stream finish_reason ' + finish);
    check(usage && usage.completion_tokens === again.usage.completion_tokens,
          'stream usage ' + JSON.stringify(usage));

    const comp = await client.completions.create(
        {model, prompt: 'The quick brown fox', max_tokens: 6, temperature: 0});
    check(comp.object === 'text_completion' && typeof comp.choices[0].text === 'string' &&
              comp.usage.completion_tokens <= 6,
          'completions ' + JSON.stringify(comp));

    const bad = new OpenAI({baseURL, apiKey: 'sk-wrong', maxRetries: 0});
    await expectError(bad.chat.completions.create({model, messages}), OpenAI.AuthenticationError,
                      401, 'wrong key');
    const e = await expectError(
        client.chat.completions.create({model, messages, temperature: 'hot'}),
        OpenAI.BadRequestError, 400, 'bad temperature');
    check(e && e.param === 'temperature', '400 param ' + (e && e.param));
    await expectError(client.embeddings.create({model, input: 'x'}), OpenAI.NotFoundError, 404,
                      'embeddings (not served)');
}

// A validator for the schema subset used below (type, properties, required,
// enum, items, minimum/maximum, minLength/maxLength, additionalProperties false).
function validate(v, s, path) {
    const t = s.type;
    const type = v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
    if (t === 'integer') {
        if (!Number.isInteger(v)) return `${path}: not an integer`;
    } else if (t && t !== type && !(t === 'number' && type === 'number')) {
        return `${path}: ${type}, expected ${t}`;
    }
    if (s.enum && !s.enum.includes(v)) return `${path}: ${JSON.stringify(v)} not in enum`;
    if (s.minimum !== undefined && v < s.minimum) return `${path}: below minimum`;
    if (s.minLength !== undefined && [...v].length < s.minLength) return `${path}: too short`;
    if (s.maxLength !== undefined && [...v].length > s.maxLength) return `${path}: too long`;
    if (s.maximum !== undefined && v > s.maximum) return `${path}: above maximum`;
    if (t === 'object') {
        for (const k of s.required || [])
            if (!(k in v)) return `${path}: missing ${k}`;
        for (const [k, x] of Object.entries(v)) {
            if (s.properties && s.properties[k]) {
                const r = validate(x, s.properties[k], path + '.' + k);
                if (r) return r;
            } else if (s.additionalProperties === false) {
                return `${path}: unexpected property ${k}`;
            }
        }
    }
    if (t === 'array' && s.items) {
        for (let i = 0; i < v.length; i++) {
            const r = validate(v[i], s.items, `${path}[${i}]`);
            if (r) return r;
        }
    }
    return null;
}

function parsesAndValidates(text, schema, what) {
    let v;
    try {
        v = JSON.parse(text);
    } catch (e) {
        return check(false, `${what}: not JSON: ${JSON.stringify(text)}`);
    }
    const r = schema ? validate(v, schema, '$') : null;
    return check(!r, `${what}: ${r}: ${text}`);
}

async function constrained() {
    const model = (await client.models.list()).data[0].id;
    const weather = {
        type: 'object',
        properties: {
            city: {type: 'string', maxLength: 24},
            unit: {type: 'string', enum: ['celsius', 'fahrenheit']},
            days: {type: 'integer', minimum: 1, maximum: 7},
        },
        required: ['city', 'unit'],
        additionalProperties: false,
    };
    const search = {
        type: 'object',
        properties: {query: {type: 'string', maxLength: 24}, limit: {type: 'integer'}},
        required: ['query'],
        additionalProperties: false,
    };
    const tools = [
        {type: 'function',
         function: {name: 'get_weather', description: 'Weather forecast', parameters: weather}},
        {type: 'function',
         function: {name: 'web_search', description: 'Search the web', parameters: search}},
    ];
    const schemas = {get_weather: weather, web_search: search};
    const messages = [{role: 'user', content: 'What is the weather in Paris?'}];

    for (const seed of [1, 2, 3]) {
        const r = await client.chat.completions.create(
            {model, messages, tools, tool_choice: 'required', seed, max_tokens: 120});
        const c = r.choices[0];
        const calls = c.message.tool_calls || [];
        check(c.finish_reason === 'tool_calls' && calls.length >= 1,
              `tool_choice required (seed ${seed}): ` + JSON.stringify(c));
        for (const call of calls) {
            check(call.type === 'function' && typeof call.id === 'string' && call.id.length > 0,
                  'call shape ' + JSON.stringify(call));
            check(call.function.name in schemas, 'unknown tool ' + call.function.name);
            if (call.function.name in schemas)
                parsesAndValidates(call.function.arguments, schemas[call.function.name],
                                   `arguments of ${call.function.name} (seed ${seed})`);
        }
        // the conversation continues with the tool's result
        if (calls.length && seed === 1) {
            const follow = await client.chat.completions.create({
                model,
                tools,
                seed,
                max_tokens: 8,
                messages: [
                    ...messages,
                    c.message,
                    {role: 'tool', tool_call_id: calls[0].id, content: '{"temp": 21}'},
                ],
            });
            check(follow.choices.length === 1, 'follow-up after a tool result');
        }
    }

    const named = await client.chat.completions.create({
        model,
        messages,
        tools,
        tool_choice: {type: 'function', function: {name: 'web_search'}},
        seed: 5,
        max_tokens: 120,
    });
    const ncalls = named.choices[0].message.tool_calls || [];
    check(ncalls.length >= 1 && ncalls.every((x) => x.function.name === 'web_search'),
          'named tool_choice: ' + JSON.stringify(named.choices[0]));
    for (const call of ncalls) parsesAndValidates(call.function.arguments, search, 'named call');

    // streamed tool calls assemble into the same shape
    const stream = await client.chat.completions.create(
        {model, messages, tools, tool_choice: 'required', seed: 9, max_tokens: 120, stream: true});
    const acc = {};
    let finish = null;
    for await (const chunk of stream) {
        for (const ch of chunk.choices) {
            for (const tc of ch.delta.tool_calls || []) {
                const a = acc[tc.index] || (acc[tc.index] = {name: '', args: ''});
                if (tc.function && tc.function.name) a.name += tc.function.name;
                if (tc.function && tc.function.arguments) a.args += tc.function.arguments;
            }
            if (ch.finish_reason) finish = ch.finish_reason;
        }
    }
    const sc = Object.values(acc);
    check(finish === 'tool_calls' && sc.length >= 1, 'streamed tool calls ' + JSON.stringify(acc));
    for (const a of sc)
        if (check(a.name in schemas, 'streamed tool name ' + a.name))
            parsesAndValidates(a.args, schemas[a.name], 'streamed arguments');

    const person = {
        type: 'object',
        properties: {
            name: {type: 'string', minLength: 1, maxLength: 16},
            age: {type: 'integer', minimum: 0, maximum: 150},
            tags: {type: 'array', items: {type: 'string', enum: ['a', 'b', 'c']}},
            admin: {type: 'boolean'},
        },
        required: ['name', 'age', 'admin'],
        additionalProperties: false,
    };
    for (const seed of [1, 2, 3]) {
        const r = await client.chat.completions.create({
            model,
            seed,
            max_tokens: 160,
            messages: [{role: 'user', content: 'Describe a person as JSON.'}],
            response_format:
                {type: 'json_schema', json_schema: {name: 'person', schema: person, strict: true}},
        });
        // a random-weight model may run out of max_tokens inside a string;
        // the engine then closes the value, so the content parses either way
        check(['stop', 'length'].includes(r.choices[0].finish_reason),
              `json_schema finish (seed ${seed}): ${r.choices[0].finish_reason}`);
        parsesAndValidates(r.choices[0].message.content, person, `json_schema (seed ${seed})`);
    }
    const jo = await client.chat.completions.create({
        model,
        seed: 4,
        max_tokens: 160,
        messages: [{role: 'user', content: 'JSON please.'}],
        response_format: {type: 'json_object'},
    });
    if (parsesAndValidates(jo.choices[0].message.content, {type: 'object'}, 'json_object'))
        check(!Array.isArray(JSON.parse(jo.choices[0].message.content)), 'json_object is an array');

    const e = await expectError(
        client.chat.completions.create({
            model,
            messages,
            response_format: {
                type: 'json_schema',
                json_schema: {name: 'x', schema: {type: 'object', properties: {a: {type: 'frob'}}}},
            },
        }),
        OpenAI.BadRequestError, 400, 'unsupported schema');
    check(e && e.param === 'response_format', '400 param ' + (e && e.param));
}

(mode === 'constrained' ? constrained() : basic())
    .then(() => {
        if (failures) {
            console.log(`${failures} check(s) failed`);
            process.exit(1);
        }
        console.log(`openai client (${mode}): all checks passed`);
    })
    .catch((e) => {
        console.log('FAIL: ' + (e && e.stack ? e.stack : e));
        process.exit(1);
    });
