/* words.c - word lists for NIAH keys (adjective-noun) and the CWE pool: the project's own
 * built-in lists (written for ttt, everyday English, lower case), or RULER's wonderwords files
 * read from a directory with --words (for numbers comparable with RULER's). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"
#include "io/json.h"
#include "util/err.h"
#include "util/mem.h"
#include "util/utf8.h"

/* longer words are refused: keys are built in fixed buffers (eval/haystack.h) */
#define WORD_MAX 100

static const char *const k_nouns[] = {
    "anchor", "apple", "apron", "arch", "arrow", "attic", "badge", "bakery", "balcony",
    "ball", "banjo", "barn", "basket", "beach", "beacon", "bean", "beard", "bell", "bench",
    "berry", "bicycle", "blanket", "boat", "bonnet", "book", "boot", "bottle", "boulder",
    "bowl", "bracelet", "branch", "bread", "brick", "bridge", "broom", "bucket", "bugle",
    "butter", "button", "cabin", "cable", "cactus", "cake", "camel", "camera", "candle",
    "canoe", "canyon", "carpet", "carrot", "castle", "cellar", "chair", "chalk", "cherry",
    "chimney", "cider", "circus", "cliff", "clock", "cloud", "coat", "comet", "compass",
    "cookie", "copper", "cottage", "crayon", "creek", "cricket", "crown", "cupboard",
    "curtain", "cushion", "daisy", "desert", "diamond", "dolphin", "donkey", "dragon",
    "drawer", "drum", "eagle", "easel", "elbow", "engine", "envelope", "falcon", "feather",
    "fence", "fern", "ferry", "fiddle", "field", "flag", "flute", "forest", "fountain",
    "fox", "garden", "garlic", "gate", "giraffe", "glacier", "glove", "goat", "granite",
    "grape", "guitar", "hammer", "harbor", "harp", "hat", "hazel", "hedge", "helmet",
    "hill", "hive", "honey", "horizon", "horse", "island", "ivory", "jacket", "jar",
    "jelly", "jungle", "kettle", "kitten", "ladder", "lagoon", "lamp", "lantern", "lemon",
    "lettuce", "library", "lighthouse", "lily", "lizard", "locket", "magnet", "mango",
    "maple", "marble", "meadow", "melon", "mirror", "mitten", "monkey", "mountain",
    "muffin", "napkin", "needle", "nest", "notebook", "oak", "oar", "ocean", "olive",
    "onion", "orchard", "otter", "oven", "owl", "paddle", "palace", "pancake", "panda",
    "parrot", "peach", "pebble", "pencil", "pepper", "piano", "pillow", "pine", "planet",
    "plum", "pocket", "pond", "potato", "pumpkin", "puzzle", "quilt", "rabbit", "radio",
    "raft", "rainbow", "raven", "ribbon", "river", "robin", "rocket", "roof", "rope",
    "saddle", "sail", "salmon", "sandal", "satchel", "saucer", "scarf", "scissors",
    "shell", "shovel", "sled", "slipper", "snail", "sparrow", "spider", "spoon", "squirrel",
    "stable", "stamp", "statue", "stove", "straw", "stream", "sugar", "suitcase", "summit",
    "sunflower", "swan", "sweater", "table", "teapot", "tent", "thimble", "thunder",
    "tiger", "timber", "toast", "tomato", "tower", "tractor", "trumpet", "tulip", "tunnel",
    "turtle", "umbrella", "valley", "vase", "velvet", "village", "violin", "volcano",
    "wagon", "walnut", "wardrobe", "waterfall", "whale", "whistle", "willow", "window",
    "wizard", "wolf", "wool", "wrench", "yacht", "yarn", "zebra", "acorn", "almond",
    "antenna", "avocado", "bagel", "bamboo", "bandana", "barrel", "biscuit", "blender",
    "bobcat", "bookcase", "buffalo", "cabbage", "canal", "cannon", "cardigan", "cathedral",
    "cheetah", "chestnut", "cinnamon", "clover", "coconut", "coral", "cottonwood", "crane",
    "crystal", "cucumber", "dandelion", "dune", "emerald", "fjord", "flamingo", "gazebo",
    "geyser", "ginger", "gondola", "gravel", "hamster", "hammock", "heron", "iceberg",
    "igloo", "jasmine", "kayak", "kiwi", "lobster", "mackerel", "meteor", "moose",
    "mushroom", "nutmeg", "ostrich", "pagoda", "peacock", "pelican", "penguin", "pretzel",
    "quartz", "reindeer", "saffron", "sapphire", "scooter", "seashell", "spinach",
    "starfish", "teacup", "thistle", "toucan", "trolley", "truffle", "tugboat", "walrus",
};

static const char *const k_adjectives[] = {
    "able", "active", "agile", "airy", "amber", "ancient", "angry", "annual", "anxious",
    "arctic", "ashen", "awkward", "bashful", "bitter", "blank", "bleak", "blissful",
    "bold", "bouncy", "brave", "breezy", "brief", "bright", "brisk", "broad", "bumpy",
    "busy", "calm", "candid", "careful", "casual", "cheap", "cheerful", "chilly", "civil",
    "clean", "clever", "cloudy", "clumsy", "coarse", "cold", "colossal", "cozy", "crafty",
    "crisp", "crooked", "cruel", "curious", "curly", "damp", "dapper", "daring", "dark",
    "dazzling", "deep", "dense", "dizzy", "drab", "dreamy", "dry", "dusty", "eager",
    "early", "earnest", "easy", "elated", "elegant", "empty", "epic", "even", "exact",
    "faint", "fair", "famous", "fancy", "fearless", "feeble", "fiery", "filthy", "firm",
    "flaky", "flat", "fluffy", "fond", "foggy", "formal", "fragile", "frank", "free",
    "fresh", "friendly", "frosty", "frugal", "funny", "fuzzy", "gentle", "giant", "giddy",
    "glad", "gloomy", "glossy", "golden", "graceful", "grand", "grateful", "greasy",
    "greedy", "grim", "grumpy", "hairy", "handy", "happy", "hardy", "harsh", "hasty",
    "heavy", "hollow", "honest", "hopeful", "huge", "humble", "hungry", "icy", "idle",
    "itchy", "jagged", "jolly", "joyful", "juicy", "keen", "kind", "lanky", "large",
    "lazy", "lean", "light", "likely", "little", "lively", "lonely", "loud", "lovely",
    "loyal", "lucky", "lumpy", "mellow", "merry", "messy", "mighty", "mild", "misty",
    "modern", "modest", "moist", "muddy", "narrow", "nasty", "neat", "nervous", "nimble",
    "noble", "noisy", "odd", "old", "orange", "pale", "patient", "peaceful", "perfect",
    "plain", "pleasant", "plump", "polite", "proud", "purple", "quaint", "quick", "quiet",
    "rapid", "rare", "raw", "ready", "regal", "restless", "rich", "rigid", "ripe",
    "robust", "rosy", "rough", "round", "royal", "rusty", "sandy", "savage", "scarce",
    "secret", "serene", "shaggy", "shallow", "sharp", "shiny", "short", "shy", "silent",
    "silky", "silly", "simple", "sleepy", "slender", "slim", "slow", "small", "smooth",
    "snowy", "soft", "solemn", "solid", "sour", "spicy", "spotless", "square", "stale",
    "steady", "steep", "sticky", "stormy", "strange", "strict", "sturdy", "subtle",
    "sunny", "swift", "tall", "tame", "tender", "thick", "thin", "thirsty", "tidy",
    "tiny", "tough", "tranquil", "tricky", "true", "upbeat", "urban", "vast", "vivid",
    "warm", "wary", "weary", "wet", "wicked", "wide", "wild", "windy", "wise", "witty",
    "wooden", "young", "zany", "zealous",
};

static const char *const k_verbs[] = {
    "accept", "admire", "advise", "agree", "allow", "amuse", "announce", "answer",
    "appear", "arrange", "arrive", "ask", "attach", "attend", "bake", "balance", "bathe",
    "battle", "beg", "begin", "behave", "belong", "bless", "blink", "boast", "boil",
    "borrow", "bounce", "breathe", "bring", "brush", "build", "bury", "buzz", "calculate",
    "call", "carry", "carve", "catch", "celebrate", "chase", "cheer", "chew", "choose",
    "clap", "climb", "collect", "comb", "compare", "complain", "cook", "copy", "count",
    "crawl", "cross", "crush", "cry", "dance", "decide", "deliver", "describe", "design",
    "dig", "discover", "dive", "drag", "draw", "dream", "drift", "drink", "drive", "drop",
    "dust", "earn", "educate", "embrace", "enjoy", "enter", "escape", "examine", "explain",
    "explore", "fasten", "fetch", "fill", "find", "fix", "float", "flow", "fly", "fold",
    "follow", "forgive", "gather", "gaze", "glide", "glow", "grab", "greet", "grin",
    "grow", "guard", "guess", "guide", "hammer", "hang", "harvest", "heal", "help", "hide",
    "hike", "hop", "hover", "hug", "hum", "hunt", "hurry", "ignore", "imagine", "improve",
    "invent", "invite", "jog", "join", "juggle", "jump", "kick", "kneel", "knit", "knock",
    "laugh", "launch", "lead", "lean", "learn", "lift", "listen", "live", "load", "lock",
    "march", "measure", "melt", "mend", "mix", "mourn", "move", "nod", "notice", "obey",
    "offer", "open", "order", "paint", "pause", "peel", "perform", "pick", "plant",
    "play", "plead", "polish", "pour", "praise", "pray", "prepare", "press", "promise",
    "protect", "pull", "punch", "push", "question", "race", "rain", "reach", "read",
    "recite", "relax", "remember", "repair", "repeat", "rescue", "rest", "return", "ride",
    "ring", "roar", "roll", "rush", "sail", "scatter", "scold", "scrub", "search", "sew",
    "shake", "share", "shine", "shiver", "shout", "sing", "sip", "sketch", "skip",
    "sleep", "slide", "smile", "sneeze", "sniff", "solve", "sparkle", "speak", "spin",
    "splash", "sprint", "squeeze", "stack", "stare", "steer", "stir", "stitch", "stretch",
    "study", "swim", "swing", "talk", "taste", "teach", "thank", "throw", "tickle", "travel",
    "trust", "tumble", "type", "unlock", "visit", "wait", "walk", "wander", "wash",
    "watch", "wave", "weave", "whisper", "whistle", "wiggle", "wink", "wish", "wonder",
    "worry", "wrap", "write", "yawn", "yell", "zoom",
};

#define LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

void ttt_words_builtin(ttt_words *w) {
    memset(w, 0, sizeof *w);
    w->nouns = (const char **)k_nouns;
    w->adjectives = (const char **)k_adjectives;
    w->verbs = (const char **)k_verbs;
    w->n_nouns = LEN(k_nouns);
    w->n_adjectives = LEN(k_adjectives);
    w->n_verbs = LEN(k_verbs);
}

/* Splits text (owned by the caller) into lines in place: trailing white space dropped, empty
 * lines skipped. */
static ttt_status split_lines(char *text, size_t len, const char *path, const char ***out,
                              int *n) {
    size_t cap = 1;
    for (size_t i = 0; i < len; i++) cap += text[i] == '\n';
    size_t bad;
    if (!ttt_utf8_valid(text, len, &bad))
        return ttt_err(TTT_ERR_FORMAT, "%s: not UTF-8 at byte %zu", path, bad);
    if (memchr(text, '\0', len))
        return ttt_err(TTT_ERR_FORMAT, "%s: NUL byte at offset %zu", path,
                       (size_t)((char *)memchr(text, '\0', len) - text));
    const char **lines = malloc(cap * sizeof *lines);
    if (!lines) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", path);
    int k = 0;
    char *p = text, *end = text + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        char *t = e;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t' || t[-1] == '\r')) t--;
        *t = '\0';
        if (t - p > WORD_MAX) {
            free(lines);
            return ttt_err(TTT_ERR_FORMAT, "%s: line %d: a word longer than %d bytes", path,
                           k + 1, WORD_MAX);
        }
        if (t > p) lines[k++] = p;
        p = nl ? nl + 1 : end;
    }
    if (k == 0) {
        free(lines);
        return ttt_err(TTT_ERR_FORMAT, "%s: no words", path);
    }
    *out = lines;
    *n = k;
    return TTT_OK;
}

ttt_status ttt_words_load(const char *dir, ttt_words *w) {
    static const char *const names[3] = {"nounlist.txt", "adjectivelist.txt", "verblist.txt"};
    memset(w, 0, sizeof *w);
    char *text[3] = {0};
    size_t len[3] = {0}, total = 0;
    ttt_status st = TTT_OK;
    for (int i = 0; i < 3 && st == TTT_OK; i++) {
        char *path = ttt_path_join(dir, names[i]);
        if (!path) st = ttt_err(TTT_ERR_NOMEM, "%s: out of memory", dir);
        else st = ttt_read_file(path, (size_t)64 << 20, &text[i], &len[i]);
        free(path);
        total += len[i] + 1;
    }
    if (st == TTT_OK) {
        /* one block owns all three files, so ttt_words_free has one pointer to free */
        w->storage = malloc(total);
        if (!w->storage) st = ttt_err(TTT_ERR_NOMEM, "%s: out of memory", dir);
    }
    const char ***lists[3] = {&w->nouns, &w->adjectives, &w->verbs};
    int *counts[3] = {&w->n_nouns, &w->n_adjectives, &w->n_verbs};
    size_t off = 0;
    for (int i = 0; i < 3 && st == TTT_OK; i++) {
        memcpy(w->storage + off, text[i], len[i]);
        w->storage[off + len[i]] = '\0';
        char label[64];
        snprintf(label, sizeof label, "%s", names[i]);
        st = split_lines(w->storage + off, len[i], label, lists[i], counts[i]);
        if (st != TTT_OK) ttt_err_prefix("%s", dir);
        off += len[i] + 1;
    }
    for (int i = 0; i < 3; i++) free(text[i]);
    if (st != TTT_OK) ttt_words_free(w);
    return st;
}

void ttt_words_free(ttt_words *w) {
    if (w->storage) {
        free((void *)w->nouns);
        free((void *)w->adjectives);
        free((void *)w->verbs);
        free(w->storage);
    }
    memset(w, 0, sizeof *w);
}
