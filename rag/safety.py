"""The caller's words are a question, never instructions to the bot.

``screen`` recognises, in Mandarin and English, attempts to change the bot's instructions, to read
its prompt, to learn about other calls or people, and role-play jailbreaks; they get a polite
refusal and no LLM call. ``leaks`` checks an answer before it is spoken: no sentence of the system
prompt may appear in it. Other calls are never in context by construction (each call has its own
dialogue state); retrieved passages are wrapped as data in the prompt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

REFUSAL = {
    "en": "I'm sorry, I can't help with that. I can answer questions about Yunhai Airport's services, "
    "or put you through to a colleague.",
    "zh": "抱歉，这个我没办法帮您。我可以回答云海机场服务方面的问题，也可以帮您转人工客服。",
}

# Conservative on purpose: travelers say "the last call for boarding", "are there new rules",
# "前面人多吗", "客服电话是多少" — none of that may be refused (the tests hold both sets).
_RULES: dict[str, list[str]] = {
    "injection": [
        r"\bdisregard (the|your|all|any)\b",
        r"\b(make up|invent|fabricate)\b.{0,30}\b(prices?|answers?|numbers?|facts?|rules?)\b",
        r"\banswer (every|all|each) (question|questions)\b.{0,10}\bwith\b",
        r"\bfrom now on\b.{0,40}\b(answer|say|reply|respond|tell)\b",
        r"(随便|瞎)编",
        r"(规则|指令|设定).{0,4}(全部|都)?(作废|失效|取消了)",
        r"(停止使用|不要用|别用|别查|不要查)(知识库|资料)",
        r"(系统通知|管理员已授权|管理员授权)",
        r"\b(ignore|disregard|forget|override|bypass)\b.{0,40}\b(instructions?|rules|prompt|guidelines|programming|everything (above|before)|what (you were|i) told)\b",
        r"\bfrom now on,? (you are|you're|you will|your (job|role|name))\b",
        r"\byou are (now|no longer) (a|an|the|my)?\b",
        r"\b(developer|debug|admin|god|jailbreak|dan|unrestricted) mode\b",
        r"\bnew (system )?instructions?\b.{0,20}\b(follow|obey|you)\b",
        r"(忽略|无视|忘记|忘掉|不要理会|别管|绕过|跳过)(掉)?(你|你的|之前|以前|前面|上面|以上|所有|全部|一切)?.{0,8}(指令|指示|规则|设定|提示|要求)",
        r"(从现在(开始|起)|接下来|今后)你(就)?(是|要扮演|扮演|不再是|改名)",
        r"(开发者|调试|管理员|越狱|上帝|无限制)模式",
        r"(新的?指令|听我的指令|按我说的做)",
    ],
    "system_prompt": [
        r"\b(guidelines|rules|instructions) (you|that you) (follow|use|were given|received|got)\b",
        r"(收到|接到)了?(哪些|什么)(指令|指示|规则)",
        r"(规则|指令|设定)(的)?原文",
        r"\b(system|initial|hidden|secret|original|internal) (prompt|instructions?|message|rules|configuration)\b",
        r"\byour (own )?(prompt|instructions|configuration|programming|guidelines)\b",
        r"\b(rules|instructions) you (were|are|have been) given\b",
        r"\b(repeat|print|reveal|recite|output|spell out|dump)\b.{0,30}\b(above|prompt|instructions|what you were told)\b",
        r"\bwhat (were|are|have) you (been )?(told|instructed|programmed) to\b",
        r"(系统|初始|隐藏|内部|原始|后台)(提示|指令|设定|规则|消息|配置)",
        r"(你的|给你的|你被设定的|你收到的)(提示词|指令|设定|规则|配置|程序)",
        r"提示词|prompt",
        r"(复述|重复|念出|读出|告诉我|输出|显示|透露|泄露).{0,10}(指令|设定|提示词|系统提示)",
    ],
    "other_callers": [
        r"\b(last|previous) (person|people|caller|one) (who|that) (called|rang|phoned)\b",
        r"\bcall before mine\b",
        r"\btranscripts? of (the|another|a|any|other) (call|conversation)",
        r"\b(wife|husband|partner|colleague|friend|son|daughter|mother|father|boss)\b.{0,30}\b(called|rang|phoned)\b.{0,60}\b(what|which|tell me)\b",
        r"(给你|给这个热线|这个热线).{0,6}打(过)?(电话)?的那个人",
        r"(前面|之前|上一)(那)?通(电话|通话)",
        r"(老婆|老公|妻子|丈夫|爱人|同事|朋友|家人|孩子).{0,10}打过.{0,20}(问的|说的|什么|哪个)",
        r"\b(previous|last|earlier|other|another) callers?\b",
        r"\b(previous|earlier) (calls?|customers?|passengers?|person)\b",
        r"\b(the )?(person|people|passenger|customer|someone) (who|that) (called|rang|phoned) (before|earlier|just now|today)\b",
        r"\bwho (else )?(called|rang|phoned) (you )?(before|earlier|today)\b",
        r"\b(other|previous) (people|travell?ers|passengers|customers)('s|s')? (calls?|questions?|conversations?|phone numbers?|numbers?|details|data)\b",
        r"\b(call|conversation) (history|records?|logs?|recordings?) (of|from) (other|another|the previous|the last)\b",
        r"(上一个|上一位|前一个|前一位|刚才那个|之前那个|其他|其它|别的)(来电|打电话的|打来电话的|打进来的|咨询的)(人|旅客|乘客|客户|用户)?",
        r"(上一个|上一位|前一个|前一位)(人|旅客|乘客|客户|用户)",
        r"(别人|其他人|其他旅客|其他乘客|其他客户)的(电话|号码|问题|信息|资料|通话|记录|航班)",
        r"(通话|来电)(记录|录音|内容)",
    ],
    "jailbreak": [
        r"\bact as (an?|the|if)\b.{0,40}\b(employee|agent|assistant|character|person|ai|staff)\b",
        r"\b(insult|offend) (me|them|him|her|people)\b",
        r"\boffensive\b",
        r"\bstay in character\b",
        r"\bunfiltered\b",
        r"(外地人|外国人|某些人).{0,6}(坏话|难听|骂)",
        r"\b(pretend|roleplay|role-play|role play|let's play a game|act as if you)\b",
        r"\b(you are|you're) not an? (ai|assistant|bot|airport assistant) (anymore|any more)\b",
        r"\bwithout (any )?(restrictions|limits|filters)\b",
        r"\b(say|tell me) (something )?(rude|offensive|nasty|bad words)\b",
        r"\b(curse|swear) (at|for)\b",
        r"(假装|扮演|角色扮演|玩个游戏|玩一个游戏)",
        r"(没有|不受|不要有|抛开)(任何)?(限制|约束)",
        r"(骂我|骂人|说脏话|说.{0,4}难听的话|侮辱)",
    ],
    "false_rule": [
        r"\b(just|please) (agree|confirm) (with me )?that\b",
        r"\bconfirm for me that\b",
        r"\bsay ['\"“]?yes\b",
        r"你就(说|回答|跟我说)",
        r"(确认|承认)一下.{0,6}(说对|对吧|是吧)",
        r"就回答“?(是|对|可以)",
        r"\b(just|only|simply) (say|answer) (yes|that|it'?s)\b",
        r"\bsay yes\b",
        r"\b(confirm|agree|admit) that\b.{0,60}\b(allowed|fine|ok|okay|free|permitted|legal)\b",
        r"(你就|只要|只需要|直接)(说|回答)(是|可以|对|行|没问题)",
        r"(确认|承认)一下.{0,30}(可以|没问题|是对的|是允许的)",
    ],
    "personal_data": [
        r"\b(mobile|phone|cell) number of the\b.{0,40}\b(officer|staff|agent|employee|worker|person|man|woman|lady|guy)\b",
        r"\bfull names? and shifts?\b",
        r"(值班的是谁|全名和排班|排班时间)",
        r"(他|她|那个人|负责人|员工|安检员|工作人员).{0,10}(手机号|家庭住址|家庭地址)",
        r"(乘客|别人|他人|座位).{0,10}身份证号",
        r"\b(home address|personal (phone|mobile|number|address|details)|private (number|phone|mobile|address)|salary)\b.{0,40}\b(staff|employee|agent|manager|worker|officer|colleague)s?\b",
        r"\b(staff|employee|agent|manager|worker|officer)('s|s')? (home address|personal (phone|mobile|number)|private (number|phone)|salary|id number|passport)\b",
        r"\b(id|passport|credit card|bank card) numbers? of (someone|somebody|another|other|a passenger|the)\b",
        r"(员工|工作人员|客服人员|经理|领导|值班人员|安检员)(的)?(私人|个人|家庭)?(手机号|住址|家庭住址|家庭地址|身份证|工资|私人电话)",
        r"(别人|他人|其他人|其他旅客|员工|工作人员).{0,6}(身份证|护照|银行卡)",
    ],
}
_COMPILED = {cat: [re.compile(p, re.IGNORECASE) for p in pats] for cat, pats in _RULES.items()}


@dataclass(frozen=True)
class Screening:
    category: str | None  # None = an ordinary question

    @property
    def refused(self) -> bool:
        return self.category is not None


def screen(question: str) -> Screening:
    """Recognise an attempt to change, read or get around the bot's instructions."""
    text = " ".join(question.split())
    for category, patterns in _COMPILED.items():
        if any(p.search(text) for p in patterns):
            return Screening(category)
    return Screening(None)


def _fragments(prompt: str) -> list[str]:
    parts = (p.strip(" .!?。！？：:，,").lower() for p in re.split(r"(?<=[.!?。！？：:])\s*", prompt))
    return [p for p in parts if len(p) >= (8 if re.search(r"[\u4e00-\u9fff]", p) else 16)]


def leaks(answer: str, *prompts: str, allowed: tuple[str, ...] = ()) -> bool:
    """Does ``answer`` repeat a sentence (or a long stretch) of any of ``prompts``? Sentences the
    prompt tells the bot to say (``allowed``, e.g. "I don't have that information") do not count."""
    low = " ".join(answer.lower().split())
    ok = " ".join(a.lower() for a in allowed)
    for prompt in prompts:
        for frag in _fragments(prompt):
            if frag in ok:
                continue
            if frag in low or (len(frag) > 30 and frag[:30] in low):
                return True
    return False


_TO_ASSISTANT = re.compile(
    r"\b(note|instruction|message|notice) (to|for) (the )?(assistant|ai|bot|model|agent)\b|\bassistant instruction"
    r"|(给|致)(助手|机器人|AI|客服机器人)|(助手|机器人|AI)(须知|指令|注意)",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[。！？!?\n】\]])|(?<=\.)(?=\s)")


def strip_instructions(text: str) -> tuple[str, int]:
    """Retrieved text is data: drop its sentences that address the assistant or try to change its
    instructions. Returns the cleaned text and how many sentences were dropped."""
    kept, dropped = [], 0
    for sentence in _SENTENCE_END.split(text):
        if not sentence.strip():
            kept.append(sentence)
            continue
        category = screen(sentence).category
        if _TO_ASSISTANT.search(sentence) or category in ("injection", "system_prompt", "jailbreak"):
            dropped += 1
            continue
        kept.append(sentence)
    return "".join(kept).strip(), dropped
